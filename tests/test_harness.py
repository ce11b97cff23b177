"""The harness can fail: wrong output, missing servers and drifting translations are caught."""
import ast
import os
import re
import socket
import subprocess

import psycopg
import pytest

from harness import RECIPES, REPO
from harness.built_site import QuietServer
from harness.copies import AnchorMissing, Change, changed, comment_spans
from harness import processes
from harness import services as services_module
from harness.processes import BackgroundServer, RecipeExited, free_port, python_env, start_recipe
from harness.services import missing
from harness.site import SERVICE_VARIABLES, front_matter
from harness.transcripts import Page, matches, page_tests, parse_transcript, run_in_terminal

DOCS = REPO / "docs"
PAGES = sorted(path for path in DOCS.rglob("*.md") if not path.name.endswith(".fr.md"))
# A block's language, the number of the terminal its title names (translated around it), its text.
FENCE = re.compile(r'^[ \t]*```(console|pycon)(?:[ \t]+title="(?:Terminal (\d+))?[^"\n]*")?[ \t]*\n(.*?)^[ \t]*```',
                   re.MULTILINE | re.DOTALL)


def run_page(path, services):
    document = page_tests().parse(path)
    document.namespace["services"] = services
    try:
        for example in document.examples():
            example.evaluate()
    finally:
        page_tests().teardown(document.namespace)


@pytest.mark.parametrize("page", ["count.md", "count.fr.md"])
def test_a_wrong_expected_line_fails_the_page(page, tmp_path, services):
    text = (DOCS / "basics" / page).read_text()
    wrong = text.replace("/count\n2\n", "/count\n3\n", 1)
    assert wrong != text
    (tmp_path / page).write_text(wrong)
    with pytest.raises(AssertionError, match=r"--- expected\n3\n--- got\n2\n--- server log\n\[8080\] http://0.0.0.0:\d+/\n.*GET /count"):
        run_page(tmp_path / page, services)


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(DOCS)))
def test_french_page_runs_the_same_transcripts(page):
    twin = page.with_suffix(".fr.md")
    assert twin.exists(), f"{twin.name} is missing"
    assert FENCE.findall(twin.read_text()) == FENCE.findall(page.read_text())


def test_every_recipe_has_a_page_that_shows_and_starts_it():
    pages = {front_matter(page.read_text()).get("recipe"): page.read_text() for page in PAGES}
    for recipe in RECIPES.iterdir():
        page = pages.get(recipe.name)
        assert page, f"no page has `recipe: {recipe.name}` in its front matter"
        assert f'--8<-- "recipes/{recipe.name}/app.py"' in page
        assert re.search(rf"python recipes/{recipe.name}/app\.py 808\d\n", page), f"no page starts {recipe.name}"


def test_wildcard_stands_for_some_text_only():
    assert matches("id=...; Path=/", "id=0123abc; Path=/")
    assert not matches("id=...; Path=/", "id=; Path=/")
    assert not matches("1", "2")
    assert matches("1\n", "1")  # curl prints no final newline
    assert not matches("1\n2", "1")


def test_wildcard_in_a_line_stays_in_that_line():
    assert not matches("Set-Cookie: ...", "Set-Cookie: id=1\nDate: today")
    assert not matches("a...b", "a\nb")
    assert matches("Set-Cookie: ...\n...", "Set-Cookie: id=1\nDate: today\nServer: localhost")


def test_a_line_of_wildcard_stands_for_whole_lines():
    assert matches("first\n...\nlast", "first\nlast")
    assert matches("first\n...\nlast", "first\n2\n3\nlast")
    assert not matches("first\n...\nlast", "first\n2\nlast but one")
    assert matches("...", "")


def test_a_wildcard_that_would_hide_lines_fails_a_page(tmp_path, services):
    page = tmp_path / "hidden.md"
    page.write_text("```console\n$ printf 'Set-Cookie: id=1\\nDate: today\\n'\nSet-Cookie: ...\n```\n")
    with pytest.raises(AssertionError, match="--- expected\nSet-Cookie: ...\n--- got\nSet-Cookie: id=1\nDate: today"):
        run_page(page, services)


def test_pages_get_only_the_server_variables_they_state(tmp_path, services, monkeypatch):
    monkeypatch.setenv("PGDATABASE", "cookbook")  # as on a developer's machine
    monkeypatch.setenv("DATABASE_URL", "postgres:///cookbook")
    page = tmp_path / "stated.md"
    page.write_text("---\nservices: [postgres]\n---\n\n```console\n"
                    "$ echo ${PGHOST:+PGHOST} ${PGPORT:+PGPORT} ${PGUSER:+PGUSER} ${PGDATABASE:-no PGDATABASE} ${DATABASE_URL:-no DATABASE_URL}\n"
                    "PGHOST PGPORT PGUSER no PGDATABASE no DATABASE_URL\n```\n")
    run_page(page, services)
    assert SERVICE_VARIABLES["postgres"]["variables"] == ["PGHOST", "PGPORT", "PGUSER"]


def test_a_page_runs_without_the_variables_of_the_make_command_that_runs_the_suite(monkeypatch):
    """`make check SINCE=HEAD~1` puts SINCE in the environment: a reader's terminal has none of them."""
    for name, value in {"SINCE": "HEAD~1", "ALL": "1", "PYTEST_ARGS": "-x", "MAKEFLAGS": "SINCE=HEAD~1"}.items():
        monkeypatch.setenv(name, value)
    assert not {"SINCE", "ALL", "PYTEST_ARGS", "MAKEFLAGS"} & set(python_env())


def test_a_page_that_relies_on_an_unstated_variable_fails(tmp_path, services):
    """The old dbstore page: `psql -f` with no database named worked only through PGDATABASE."""
    page = tmp_path / "unstated.md"
    page.write_text("---\nservices: [postgres]\n---\n\n```console\n"
                    "$ createdb cookbook\n$ psql -q -c 'create table t (n int)'\n"
                    "$ psql -d cookbook -At -c 'select count(*) from t'\n0\n```\n")
    with pytest.raises(AssertionError, match='relation "t" does not exist'):
        run_page(page, services)


def test_a_transcript_is_commands_and_their_output():
    assert parse_transcript("$ a \\\n  --b\nout\n$ c\n") == [("a \\\n  --b", "out"), ("c", "")]
    with pytest.raises(ValueError):
        parse_transcript("output before any command")


def test_a_missing_server_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="Redis is not installed: apt-get install"):
        missing("Redis", "apt-get install redis-server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Redis is not installed"):
        missing("Redis", "apt-get install redis-server")


def test_redis_and_postgres_are_real_servers(tmp_path, services):
    page = tmp_path / "servers.md"
    page.write_text("---\nservices: [postgres, redis]\n---\n\n"
                    "```console\n$ redis-cli -u \"$REDIS_URL\" ping\nPONG\n"
                    "$ psql -At -c 'select 6 * 7'\n42\n```\n")
    run_page(page, services)


def test_a_frozen_postgres_is_resumed_whole_when_one_of_its_processes_ended_meanwhile(services, monkeypatch):
    env = services.cookbook_database()
    ended = subprocess.Popen(["true"])
    ended.wait()
    listed = services_module.children
    monkeypatch.setattr(services_module, "children", lambda pid: [ended.pid, *listed(pid)])
    with services.postgres_frozen():
        pass
    with psycopg.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], dbname="cookbook",
                         connect_timeout=5) as connection:
        assert connection.execute("select 6 * 7").fetchone() == (42,)


def test_terminal_output_is_the_text_a_reader_sees(tmp_path):
    """curl on a terminal wraps Location in a hyperlink (OSC 8), and headers end with \\r\\n."""
    headers = r"printf 'HTTP/1.1 303 See Other\r\nLocation: \033]8;;http://x/\033\\http://x/\033]8;;\033\\\r\n\r\n'"
    assert run_in_terminal(headers, tmp_path, python_env()) == "HTTP/1.1 303 See Other\nLocation: http://x/\n\n"


def test_a_page_runs_processes_side_by_side_on_documented_ports(tmp_path, services):
    page = tmp_path / "ports.md"
    page.write_text("```console\n$ python recipes/count/app.py 8080\nhttp://0.0.0.0:8080/\n"
                    "$ python recipes/count/app.py 8081\nhttp://0.0.0.0:8081/\n"
                    "$ curl -s http://127.0.0.1:8080/count http://127.0.0.1:8081/count\n11\n"
                    "$ python recipes/count/app.py 8081\nhttp://0.0.0.0:8081/\n"
                    "$ curl -s -o /dev/null -w '%{http_code} %{url}\\n' http://127.0.0.1:8080/count\n200 http://127.0.0.1:8080/count\n```\n")
    run_page(page, services)


def test_a_daemon_a_page_starts_is_stopped_when_the_page_ends(tmp_path, services):
    """A server a page sends to the background (redis-server --daemonize yes) is no child of the
    harness: it is stopped because it runs in the page's directory. Without that it would outlive it."""
    page, pidfile = tmp_path / "daemon.md", tmp_path / "redis.pid"
    page.write_text("---\nservices: [redis]\n---\n\n```console\n"
                    f"$ redis-server --port 6380 --bind 127.0.0.1 --save '' --daemonize yes --pidfile {pidfile}\n"
                    "$ until redis-cli -p 6380 ping; do sleep 0.1; done\nPONG\n```\n")
    run_page(page, services)
    assert not processes.is_running(int(pidfile.read_text()))


def recipe_comments():
    """The text of every comment in the recipes' Python files (long enough to be quoted)."""
    comments = set()
    for path in RECIPES.rglob("*.py"):
        for span in comment_spans(source := path.read_text()):
            text = source[span[0]:span[1]].lstrip("#").strip()
            if len(text) >= 16:
                comments.add(text)
    return comments


def test_no_test_quotes_a_recipe_comment():
    """Rewording a recipe's comment never breaks a test: no string of a test holds one."""
    comments = recipe_comments()
    quoting = []
    for path in sorted((REPO / "tests").rglob("*.py")) + [REPO / "conftest.py", *sorted((REPO / "bench").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                quoting += [f"{path.relative_to(REPO)}:{node.lineno}: {comment!r}"
                            for comment in comments if comment in node.value]
    assert not quoting, "\n".join(quoting)


def test_a_change_anchored_on_a_comment_is_refused():
    source = "x = 1  # the defence\ny = 2\n"
    assert changed(source, [Change("x", "y = 2\n", "")], "app.py") == "x = 1  # the defence\n"
    with pytest.raises(AnchorMissing, match="cannot take out the defence: its anchor in app.py holds a comment"):
        changed(source, [Change("the defence", "1  # the", "2  # the")], "app.py")
    with pytest.raises(AnchorMissing, match="cannot take out the check: its code is in app.py 0 times"):
        changed(source, [Change("the check", "z = 3\n")], "app.py")


def test_no_test_module_imports_another():
    importing = [f"{path.name}: {node.module}" for path in (REPO / "tests").glob("test_*.py")
                 for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("test_")
                 or isinstance(node, ast.Import) and any(alias.name.startswith("test_") for alias in node.names)]
    assert importing == []


def test_titled_blocks_run_in_order_with_the_server_kept_between_them(tmp_path, services):
    """A block titled for its terminal is a transcript like any other; the server started in one
    block answers the next, and a wrong line in a titled block fails the page."""
    server = '```console title="Terminal 1: the server"\n$ python recipes/count/app.py 8080\nhttp://0.0.0.0:8080/\n```\n\n'
    client = '```console title="Terminal 2: the client"\n$ curl -s -c c.txt -b c.txt http://127.0.0.1:8080/count\n{}\n```\n\n'
    page = tmp_path / "titled.md"
    page.write_text(server + client.format(1) + client.format(2))
    run_page(page, services)
    page.write_text(server + client.format(1) + client.format(3))
    with pytest.raises(AssertionError, match="--- expected\n3\n--- got\n2\n"):
        run_page(page, services)


def test_a_restart_moves_to_another_port_when_something_else_took_it(tmp_path, services):
    """Between two starts of a page's server, another program may listen on its real port: the
    restart takes another free one, instead of a server that cannot bind and a neighbour that answers."""
    page = tmp_path / "taken.md"
    page.write_text("```console\n$ python recipes/count/app.py 8080\nhttp://0.0.0.0:8080/\n```\n\n"
                    "```console\n$ python recipes/count/app.py 8080\nhttp://0.0.0.0:8080/\n"
                    "$ curl -s http://127.0.0.1:8080/count\n1\n```\n")
    document = page_tests().parse(page)
    document.namespace["services"] = services
    first, second = document.examples()
    try:
        first.evaluate()
        taken = document.namespace["page"].ports["8080"]
        with socket.socket() as neighbour:
            neighbour.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            document.namespace["page"].stop("8080")
            neighbour.bind(("0.0.0.0", taken))
            neighbour.listen()
            second.evaluate()
            assert document.namespace["page"].ports["8080"] != taken
    finally:
        page_tests().teardown(document.namespace)


def test_a_start_retries_on_another_port_when_its_port_was_taken_before_the_bind(tmp_path, services, monkeypatch):
    """Another program may take the chosen port between the harness's check and the server's bind:
    the server exits with "Address already in use", and the page starts it again on another port."""
    page = tmp_path / "race.md"
    page.write_text("```console\n$ python recipes/count/app.py 8080\nhttp://0.0.0.0:8080/\n"
                    "$ curl -s http://127.0.0.1:8080/count\n1\n```\n")
    document = page_tests().parse(page)
    document.namespace["services"] = services
    (example,) = document.examples()
    monkeypatch.setattr("harness.transcripts.port_is_free", lambda port: True)  # the check passed...
    try:
        with socket.socket() as neighbour:
            neighbour.bind(("0.0.0.0", 0))  # bound, not listening: the server's bind fails, nothing answers
            document.namespace["page"] = Page(page, services)
            document.namespace["page"].ports["8080"] = neighbour.getsockname()[1]  # ...then it was taken
            example.evaluate()
            assert document.namespace["page"].ports["8080"] != neighbour.getsockname()[1]
    finally:
        page_tests().teardown(document.namespace)


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "python app.py"])
def test_a_port_another_program_listens_on_is_not_taken_for_the_recipes(tmp_path, forked):
    """Connecting succeeds, but the listener is not the recipe's: the recipe exits (address in use),
    and the harness says so rather than send the test's requests to the other program."""
    with socket.socket() as neighbour:
        neighbour.bind(("127.0.0.1", 0))
        neighbour.listen()
        taken = neighbour.getsockname()[1]
        with pytest.raises(RecipeExited, match="Address already in use"):
            start_recipe(RECIPES / "count" / "app.py", tmp_path, port=taken, forked=forked)


def test_the_listeners_of_a_port_are_found_on_both_families_and_no_other():
    with socket.socket() as ipv4, socket.socket(socket.AF_INET6) as ipv6, socket.socket() as other:
        ipv4.bind(("127.0.0.1", 0))
        port = ipv4.getsockname()[1]
        ipv6.bind(("::1", port))
        other.bind(("127.0.0.1", 0))
        for listener in (ipv4, ipv6, other):
            listener.listen()
        with socket.create_connection(("127.0.0.1", port)):  # a connection on the port, not a listener
            assert processes.listening_sockets(port) == {str(os.fstat(ipv4.fileno()).st_ino),
                                                          str(os.fstat(ipv6.fileno()).st_ino)}


PROBE = """import os, sys
print(sys.argv, sys.path, __name__, __file__, __spec__, type(__loader__).__name__, os.getcwd(),
      sorted((name, value) for name, value in os.environ.items() if name not in {"PWD", "SHLVL", "_"}),
      sys.dont_write_bytecode, "web" in sys.modules or "a fresh interpreter")
sys.exit("the probe is done")
"""


def test_a_forked_recipe_runs_as_python_app_py_does(tmp_path):
    """Same arguments, import path, main module, directory, environment (bash's own variables aside),
    message and exit status; only what was imported before it differs."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "app.py").write_text(PROBE)
    outputs, port = {}, free_port()
    for forked in (True, False):
        with pytest.raises(RecipeExited) as exited:
            start_recipe(tmp_path / "folder" / "app.py", tmp_path, {"SESSION_STORE": "disk"}, port=port, forked=forked)
        outputs[forked] = str(exited.value)
    assert outputs[True].count("True\n") == 1  # forked, from the interpreter that has web.py imported
    outputs[True] = outputs[True].replace("True\n", "a fresh interpreter\n")
    assert outputs[True] == outputs[False]
    assert outputs[True].startswith("the server exited with 1\n")
    assert outputs[True].endswith("the probe is done\n")


def test_a_recipe_whose_free_port_was_taken_before_its_bind_starts_on_another(tmp_path, monkeypatch):
    with socket.socket() as neighbour:
        neighbour.bind(("127.0.0.1", 0))
        neighbour.listen()
        taken = neighbour.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(processes, "free_port", lambda: next(ports, None) or free_port())
        server = start_recipe(RECIPES / "count" / "app.py", tmp_path)
        try:
            assert server.port != taken
            assert server.log().startswith(f"http://127.0.0.1:{server.port}/")
        finally:
            server.stop()


@pytest.mark.parametrize("error, printed", [(BrokenPipeError, False), (ValueError, True)])
def test_the_sites_server_prints_no_traceback_for_a_connection_the_browser_dropped(error, printed, capsys):
    server = QuietServer(("127.0.0.1", 0), None)
    try:
        try:
            raise error("x")
        except error:
            server.handle_error(None, ("127.0.0.1", 1))
    finally:
        server.server_close()
    assert ("Traceback" in capsys.readouterr().err) is printed
