"""What the scale-out page says beyond its transcripts."""
import re
import time
import urllib.request

import pytest

from harness import RECIPES, Page, RecipeExited, count_at_once, fetch, start_recipe

APP = RECIPES / "scale-out" / "app.py"


def started_behind_nginx(tmp_path, services):
    """The page's three processes and nginx, started by the page's own commands."""
    page_file = tmp_path / "page.md"
    page_file.write_text("---\nservices: [redis, nginx]\n---\n")
    page = Page(page_file, services)
    for port in ["8081", "8082", "8083"]:
        assert page.run(f"python recipes/scale-out/app.py {port}") == f"http://0.0.0.0:{port}/"
    assert page.run('nginx -p "$PWD" -e stderr -c recipes/scale-out/nginx.conf') == ""
    return page


def visit(page):
    """One visit through nginx with the page's cookie jar: (count, port of the process that served it)."""
    output = page.run("curl -s -D headers.txt -b jar.txt -c jar.txt http://127.0.0.1:8080/count;"
                      " echo; grep -o 'X-Served-By: .*' headers.txt")
    count, served_by = output.split("\n")[:2]
    return int(count), re.search(r":(\d+)$", served_by).group(1)


def test_a_process_can_go_away_without_logging_anyone_out(tmp_path, services):
    page = started_behind_nginx(tmp_path, services)
    try:
        assert [visit(page) for _ in range(3)] == [(1, "8081"), (2, "8082"), (3, "8083")]
        page.stop("8082")
        after = [visit(page) for _ in range(4)]
    finally:
        page.close()
    assert [count for count, _ in after] == [4, 5, 6, 7]
    assert {port for _, port in after} == {"8081", "8083"}


@pytest.mark.parametrize("store", ["redis", "postgres"])
def test_two_processes_share_one_session(tmp_path, services, store):
    env = services.environment(["redis"]) if store == "redis" else services.cookbook_database()
    first, second = (start_recipe(APP, tmp_path, env) for _ in range(2))
    try:
        response = urllib.request.urlopen(f"http://127.0.0.1:{first.port}/count", timeout=10)
        cookie = {"Cookie": response.headers["Set-Cookie"].split(";")[0]}
        counts = [fetch(server.port, "/count", cookie) for server in [second, first, second]]
    finally:
        first.stop()
        second.stop()
    assert counts == [(200, b"2"), (200, b"3"), (200, b"4")]


@pytest.mark.parametrize("variable, value, message", [
    ("REDIS_URL", "redis://127.0.0.1:1/0", "Cannot reach Redis at redis://127.0.0.1:1/0: Error 111"),
    ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/cookbook", "Cannot use PostgreSQL at postgres://nobody@127.0.0.1:1/cookbook:"),
])
def test_an_unreachable_store_stops_the_recipe_with_a_message(tmp_path, variable, value, message):
    with pytest.raises(RecipeExited) as exited:
        start_recipe(APP, tmp_path, {variable: value})
    assert message in exited.value.output
    assert "Traceback" not in exited.value.output


RECIPE_CHECK = "check=lambda connection: check_connection(pool, connection)"


@pytest.mark.parametrize("pool_check, answer", [
    (RECIPE_CHECK, (200, b"2")),
    ("check=ConnectionPool.check_connection", (503, b"The session store is unavailable, try again later.\n")),
], ids=["recipe", "pool's own check"])
def test_postgres_restarted_the_next_visit_counts_on(tmp_path, services, pool_check, answer):
    """A restart kills every pooled connection; the pool alone finds them one at a time, and times out."""
    assert APP.read_text().count(RECIPE_CHECK) == 1
    app = tmp_path / "app.py"
    app.write_text(APP.read_text().replace(RECIPE_CHECK, pool_check))
    server = start_recipe(app, tmp_path, services.cookbook_database())
    try:
        response = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/count", timeout=10)
        cookie = {"Cookie": response.headers["Set-Cookie"].split(";")[0]}
        count_at_once(server.port)  # requests at once: the pool opens more than its four connections
        with services.postgres_stopped():
            pass
        started = time.monotonic()
        seen = fetch(server.port, "/count", cookie)
        seconds = time.monotonic() - started
    finally:
        server.stop()
    assert seen == answer
    assert seconds < 3 if pool_check == RECIPE_CHECK else seconds >= 5  # the pool's timeout
