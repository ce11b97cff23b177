"""What the hardening page says beyond its transcripts: each defence, with and without it."""
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import web

from harness import RECIPES
from harness.client import get, method_for, request
from harness.copies import HOLD, Change, Holds, recipe_copy
from harness.in_process import import_recipe
from harness.processes import BackgroundServer, RecipeExited, free_port, python_env, start_recipe

RECIPE = RECIPES / "hardening" / "app.py"
SECRET = {"SESSION_SECRET": "test-secret"}
CHMOD = Change("the chmod of the store's directory", "os.chmod(root, 0o700)", "pass")
MODE = Change("the mode given to makedirs", "mode=0o700, ")
# The recipe's save renamed away: DiskStore's own is used.
SAVE = Change("the recipe's save", "    def __setitem__(self, key, value):", "    def unused_save(self, key, value):")


def variant(directory, *changes):
    """A copy of the recipe in `directory` with `changes` made: a defence taken out."""
    return recipe_copy("hardening", directory, *changes)


def first_visit(app, cwd, env=SECRET):
    """Start `app` on 127.0.0.1 in cwd, GET /count once; return the response and the server log."""
    server = start_recipe(app, cwd, env)
    try:
        response = get(server, "/count")
    finally:
        server.stop()
    return response, server.log()


def session_id(response):
    return response.session_id()


def as_nobody(*command):
    if os.geteuid() != 0:
        pytest.skip("acting as another local user needs root (runuser)")
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True, text=True)


@pytest.fixture
def workdir():
    """A working directory other local users may enter, as /srv/app would be (tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="cookbook-hardening-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("existing", [False, True], ids=["new directory", "directory DiskStore made"])
@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "without chmod"])
def test_other_users_cannot_list_or_read_the_store(workdir, existing, defended):
    """Without `os.chmod(root, 0o700)` (and the mode given to makedirs) another local user lists
    sessions/ (the names are ids) and reads it."""
    app = RECIPE if defended else variant(workdir, CHMOD, MODE)
    if existing:  # 0755, with a 0644 file in it
        subprocess.run([sys.executable, "-c", 'import web; web.session.DiskStore("sessions")["0123abcd"] = {}'],
                       cwd=workdir, env=python_env(), check=True)
    response, _ = first_visit(app, workdir)
    listing = as_nobody("ls", workdir / "sessions")
    reading = as_nobody("cat", workdir / "sessions" / ("0123abcd" if existing else session_id(response)))
    if defended:
        assert (workdir / "sessions").stat().st_mode & 0o777 == 0o700
        assert "Permission denied" in listing.stderr and "Permission denied" in reading.stderr
    else:
        assert session_id(response) in listing.stdout.split()
        assert reading.returncode == (0 if existing else 1)  # the recipe's own files are 0600


CREATE_STORE = """
import importlib.util, os, sys
os.chmod = lambda *args: None  # what the directory is made, before any chmod
sys.path.insert(0, os.path.dirname(sys.argv[1]))  # as `python app.py` does: its modules beside it
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(oct(os.stat("sessions").st_mode & 0o777))
"""


@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "makedirs without a mode"])
def test_the_directory_is_made_0700_not_closed_after(tmp_path, defended):
    """Made 0755 then chmod'ed, sessions/ is open to others in between, and to their open handles after."""
    app = RECIPE if defended else variant(tmp_path, MODE)
    made = subprocess.run([sys.executable, "-c", CREATE_STORE, app], cwd=tmp_path, env=python_env(SECRET),
                          capture_output=True, text=True, check=True).stdout
    assert made == ("0o700\n" if defended else "0o755\n")  # with the usual umask, 022


HOLD_OPEN = """import os, sys
directory = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
print("open", flush=True)
sys.stdin.readline()
print(*sorted(os.listdir(directory)))
"""


@pytest.mark.parametrize("replaced", [False, True], ids=["chmod'ed", "replaced by a new directory"])
def test_a_handle_opened_while_the_directory_was_open_lists_it_after_chmod(workdir, replaced):
    """Another user opens sessions/ while DiskStore's 0755; the recipe then starts and counts a visit."""
    if os.geteuid() != 0:
        pytest.skip("acting as another local user needs root (runuser)")
    python = shutil.which("python3", path="/usr/bin:/bin")  # one that nobody may run, unlike a venv under /root
    if not python:
        pytest.skip("no /usr/bin/python3 for the user nobody")
    subprocess.run([sys.executable, "-c", 'import web; web.session.DiskStore("sessions")["0123abcd"] = {}'],
                   cwd=workdir, env=python_env(), check=True)
    holder = subprocess.Popen(["runuser", "-u", "nobody", "--", python, "-c", HOLD_OPEN, workdir / "sessions"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n", holder.stderr.read()
        if replaced:
            shutil.rmtree(workdir / "sessions")  # the recipe makes a new one, 0700
        response, _ = first_visit(RECIPE, workdir)
        listing, _ = holder.communicate("list\n", timeout=10)
    finally:
        holder.kill()
    assert "Permission denied" in as_nobody("ls", workdir / "sessions").stderr
    assert (session_id(response) in listing.split()) is not replaced


@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "DiskStore's own save"])
def test_session_files_are_0600(tmp_path, defended):
    app = RECIPE if defended else variant(tmp_path, SAVE)
    response, _ = first_visit(app, tmp_path)
    mode = (tmp_path / "sessions" / session_id(response)).stat().st_mode & 0o777
    assert mode == (0o600 if defended else 0o644)  # with the usual umask, 022


LOAD_RECIPE = """
import importlib.util, os, shutil, subprocess, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))  # as `python app.py` does: its modules beside it
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
"""
SECOND = LOAD_RECIPE + """
app.store["0123abcd"] = {"saved by": "second"}
"""
FIRST = LOAD_RECIPE + """
def once_the_second_process_has_saved(move):
    def wrapper(*args):
        subprocess.run([sys.executable, "-c", sys.argv[2], sys.argv[1]], check=True)
        return move(*args)
    return wrapper

shutil.move = once_the_second_process_has_saved(shutil.move)  # DiskStore's
os.replace = once_the_second_process_has_saved(os.replace)  # the recipe's
app.store["0123abcd"] = {"saved by": "first"}
print(app.store["0123abcd"]["saved by"], *sorted(os.listdir("sessions")))
"""


@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "DiskStore's own save"])
def test_a_save_from_another_process_does_not_take_its_temporary_file(tmp_path, defended):
    """DiskStore's temporary file is `<id>.MainThread` in both processes: the same file.

    The second process saves while the first has written its temporary file and not yet moved it.
    """
    app = RECIPE if defended else variant(tmp_path, SAVE)
    first = subprocess.run([sys.executable, "-c", FIRST, app, SECOND], cwd=tmp_path,
                           env=python_env(SECRET), capture_output=True, text=True, check=True)
    # The last save to finish should win; with DiskStore, the first process's is lost without an error.
    assert first.stdout == ("first 0123abcd\n" if defended else "second 0123abcd\n")
    assert first.stderr == ""


ADD_HOLD = Change("nothing: adds the test's hold()", "\nclass PrivateDiskStore", HOLD + "\nclass PrivateDiskStore")
# /count holds between web.py's check that the session exists and its read.
HELD_CHECK = Change("nothing: /count waits between web.py's check and its read", "    def __setitem__", """\
    def __contains__(self, key):
        found = super().__contains__(key)
        if web.ctx.path == "/count" and os.path.exists("go-1") and not os.path.exists("held-1"):
            hold()  # once: DeletionTolerantSession checks again
        return found

    def __setitem__""")
# /count holds inside DiskStore's read, between its check that the file exists and its open.
HELD_OPEN = Change("nothing: /count waits between DiskStore's check of the file and its open", "    def __setitem__", """\
    def __getitem__(self, key):
        path = self._get_path(key)
        if not os.path.exists(path):
            raise KeyError(key)
        if web.ctx.path == "/count" and os.path.exists("go-1") and not os.path.exists("held-1"):
            hold()
        with open(path, "rb") as file:
            return self.decode(file.read())

    def __setitem__""")
# Every deletion of a session holds just before os.remove, once the session is loaded and found there.
HELD_DELETE = Change("nothing: a deletion waits before os.remove", "\nclass PrivateDiskStore", """
_remove = os.remove


def remove(path):
    if os.path.exists("go-1") and not os.path.basename(path).startswith("tmp"):
        hold()
    _remove(path)


os.remove = remove

class PrivateDiskStore""")
RACES = {
    # race: (the held request, the other, the changes that hold them, the defence, the error in the
    #        log without it). The held request has loaded the session; the other deletes it meanwhile.
    "a visit while the session is reset": (
        "/count", "/reset", [HELD_CHECK],
        Change("DeletionTolerantSession", "session = DeletionTolerantSession(", "session = web.session.Session("),
        "KeyError: '{id}'"),
    "a visit while the session is reset, inside DiskStore's read": (
        "/count", "/reset", [HELD_OPEN],
        Change("FileNotFoundError in DeletionTolerantSession", "except (KeyError, FileNotFoundError):",
               "except KeyError:"),
        "FileNotFoundError: [Errno 2] No such file or directory: 'sessions/{id}'"),
    "two resets at once": (
        "/reset", "/reset", [HELD_DELETE],
        Change("the deletion that tolerates a file already gone", "    def __delitem__(self, key):",
               "    def unused_delete(self, key):"),
        "FileNotFoundError: [Errno 2] No such file or directory: 'sessions/{id}'"),
}


def send(server, path, cookie):
    """GET /count, POST /reset (it changes the session)."""
    return request(server, path, method_for(path), cookie=cookie)


def answer(response):
    return response.status, response.text if response.status == 200 else ""


@pytest.mark.parametrize("race", RACES)
@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "without the defence"])
def test_a_session_deleted_by_another_request_is_no_error_and_no_id_in_the_log(tmp_path, race, defended,
                                                                               recipe_server):
    """DiskStore raises KeyError(id), or FileNotFoundError naming sessions/<id>: web.py logs it with a 500.

    A visit is held between web.py's check and its read while a reset runs; or two resets are held
    just before deleting, and the first deletes first.
    """
    held, other, holding, defence, error = RACES[race]
    server = recipe_server(variant(tmp_path, ADD_HOLD, *holding, *([] if defended else [defence])), SECRET)
    cookie = get(server, "/count").cookie()
    holds = Holds(tmp_path, 2 if other == held else 1)
    with ThreadPoolExecutor() as pool:
        hurt = pool.submit(send, server, held, cookie)
        holds.wait(1)
        deleting = pool.submit(send, server, other, cookie)
        if other == held:  # the second reset, held too: it deletes first
            holds.wait(2)
            holds.release(2)
        answers = [answer(deleting.result())]
        holds.release(1)
        answers.append(answer(hurt.result()))
    stolen = cookie.split("=")[1]
    if defended:
        assert answers == [(200, "Reset"), (200, "1" if held == "/count" else "Reset")]
        assert stolen not in server.log() and "Traceback" not in server.log()
    else:
        assert answers[1] == (500, "")
        assert error.format(id=stolen) in server.log()


def start_on(app, cwd, address, env=None):
    """Start `python app <address>` ({port} in address is a free port); stop it if it starts."""
    port = free_port()
    BackgroundServer(f"python {app} {address.format(port=port)}", cwd, python_env(env), port).stop()


@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "without the check"])
def test_a_server_on_every_address_needs_a_secret(tmp_path, defended):
    app = RECIPE if defended else variant(tmp_path, Change("the check for a secret", "elif not development():",
                                                          "elif False:"))
    if defended:
        with pytest.raises(RecipeExited, match="SESSION_SECRET is not set"):
            start_on(app, tmp_path, "{port}")
    else:
        start_on(app, tmp_path, "{port}")


FASTCGI = {"fcgi": (["fcgi"], {}), "fastcgi": (["fastcgi"], {}), "scgi": (["scgi"], {}),
           "SERVER_SOFTWARE": ([], {"SERVER_SOFTWARE": "lighttpd"}), "PHP_FCGI_CHILDREN": ([], {"PHP_FCGI_CHILDREN": "4"})}


@pytest.mark.parametrize("how", FASTCGI)
@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "without the check"])
def test_fastcgi_or_scgi_on_a_loopback_address_needs_a_secret(tmp_path, how, defended):
    """web.py serves FastCGI or SCGI to another server when told so: not development, even on 127.0.0.1.
    Without the check the recipe starts without a secret and goes on to web.py's FastCGI server (flup,
    not installed here, stops it)."""
    app = RECIPE if defended else variant(tmp_path, Change(
        "the FastCGI and SCGI check", 'if {"fcgi", "fastcgi", "scgi"} & set(sys.argv[1:]):', "if False:"), Change(
        "the FastCGI variables' check", '{"PORT", "SERVER_SOFTWARE", "PHP_FCGI_CHILDREN"} & set(os.environ)',
        '"PORT" in os.environ'))
    arguments, environment = FASTCGI[how]
    started = subprocess.run([sys.executable, app, f"127.0.0.1:{free_port()}", *arguments], cwd=tmp_path,
                             env=python_env(environment), capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    if defended:
        assert "SESSION_SECRET is not set" in started.stderr
    else:
        assert "SESSION_SECRET is not set" not in started.stderr and "No module named 'flup'" in started.stderr


@pytest.mark.upstream
@pytest.mark.parametrize("how, cgi", [("SERVER_SOFTWARE", "Y"), ("PHP_FCGI_CHILDREN", None)])
def test_web_py_runs_as_cgi_when_it_finds_server_software(how, cgi, monkeypatch):
    """web.py hands the application to flup's FastCGI server, in CGI mode when SERVER_SOFTWARE is set."""
    handed = []
    for name in ("FCGI_FORCE_CGI", "SERVER_SOFTWARE", "PHP_FCGI_CHILDREN"):  # put back as they were after
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(how, "lighttpd")
    monkeypatch.setattr(web.wsgi, "runfcgi", lambda func, address: handed.append((address, os.environ.get(
        "FCGI_FORCE_CGI"))))
    web.wsgi.runwsgi(None)
    assert handed == [(None, cgi)]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "[::1]"])
def test_a_server_on_a_loopback_address_is_development(tmp_path, host):
    port = free_port()
    server = subprocess.Popen([sys.executable, RECIPE, f"{host}:{port}"], cwd=tmp_path, env=python_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = server.stdout.readline()
    finally:
        server.terminate()
        server.wait()
    assert started == f"http://{host.strip('[]')}:{port}/\n"


def test_with_port_set_web_py_listens_on_every_address(tmp_path):
    with pytest.raises(RecipeExited, match="SESSION_SECRET is not set"):
        start_on(RECIPE, tmp_path, "127.0.0.1:{port}", {"PORT": "1"})


def test_imported_by_another_server_it_needs_a_secret(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SESSION_SECRET", raising=False)
    with pytest.raises(SystemExit, match="SESSION_SECRET is not set"):
        import_recipe("hardening")


@pytest.mark.parametrize("setting, secure", [(None, True), ("False", False), ("True", True)])
def test_the_cookie_is_secure_unless_told_otherwise(tmp_path, setting, secure):
    env = dict(SECRET, SESSION_COOKIE_SECURE=setting) if setting else SECRET
    response, _ = first_visit(RECIPE, tmp_path, env)
    assert response.headers["Set-Cookie"].endswith("; Secure") == secure


def test_without_the_default_the_cookie_is_not_secure(tmp_path):
    app = variant(tmp_path, Change("Secure by default", '"SESSION_COOKIE_SECURE", "True"',
                                   '"SESSION_COOKIE_SECURE", "False"'))
    response, _ = first_visit(app, tmp_path)
    assert "Secure" not in response.headers["Set-Cookie"]


def test_the_log_shows_paths_without_query_strings_or_cookies(tmp_path):
    server = start_recipe(RECIPE, tmp_path, SECRET)
    try:
        cookie = get(server, "/count").cookie()
        stolen = cookie.split("=")[1]
        assert get(server, "/count", cookie=cookie).text == "2"
        # web.py reads the id from the cookie only: one in the URL starts a new session.
        assert get(server, f"/count?webpy_session_id={stolen}").text == "1"
    finally:
        server.stop()  # the log is complete once the server has stopped
    requests = server.log().splitlines()[1:]
    assert [line.split('"', 1)[1] for line in requests] == ['HTTP/1.1 GET /count" - 200 OK'] * 3
    assert stolen not in server.log()


@pytest.mark.upstream
def test_web_py_uses_the_secret_only_to_make_new_ids():
    import web

    source = inspect.getsource(web.session)
    uses = [line.strip() for line in source.splitlines() if "secret_key" in line]
    assert uses == ['"secret_key": "fLjUfxqXtfNoIldA0A0J",', "secret_key = self._config.secret_key",
                    'hashable = f"{rand}{now}{utils.safestr(web.ctx.ip)}{secret_key}"']
    assert "secret_key" in inspect.getsource(web.session.Session._generate_session_id)


class Planted:
    """What a pickle may do when it is loaded: here, create a file."""

    def __reduce__(self):
        return (open, ("planted-code-ran", "w"))


def test_whoever_can_write_the_store_runs_code(tmp_path, recipe_server):
    server = recipe_server(RECIPE, SECRET)
    (tmp_path / "sessions" / "0123abcd").write_bytes(web_store().encode({"count": 0, "payload": Planted()}))
    get(server, "/count", cookie="webpy_session_id=0123abcd")  # whatever the answer, the code has run
    assert (tmp_path / "planted-code-ran").exists()


def web_store():
    import web

    return web.session.Store()
