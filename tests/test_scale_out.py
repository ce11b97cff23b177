"""What the scale-out page says beyond its transcripts."""
import re
import time

import pytest

from harness.catalogue import RECIPES_CATALOGUE
from harness.client import counted_at_once, get
from harness.copies import Change, recipe_copy
from harness.processes import RecipeExited, start_recipe
from harness.transcripts import Page

APP = RECIPES_CATALOGUE["scale-out"].app
UNAVAILABLE = "The session store is unavailable, try again later.\n"


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
def test_two_processes_share_one_session(recipe_server, services, store):
    env = services.redis() if store == "redis" else services.cookbook_database()
    first, second = (recipe_server(APP, env) for _ in range(2))
    cookie = get(first, "/count").cookie()
    counts = [(answer.status, answer.text) for answer in (get(server, "/count", cookie=cookie)
                                                          for server in [second, first, second])]
    assert counts == [(200, "2"), (200, "3"), (200, "4")]


@pytest.mark.parametrize("variable, value, message", [
    ("REDIS_URL", "redis://127.0.0.1:1/0", "Cannot reach Redis at redis://127.0.0.1:1/0: Error 111"),
    ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/cookbook", "Cannot use the sessions table: "),
])
def test_an_unreachable_store_stops_the_recipe_with_a_message(tmp_path, variable, value, message):
    with pytest.raises(RecipeExited) as exited:
        start_recipe(APP, tmp_path, {variable: value})
    assert message in exited.value.output
    assert "Traceback" not in exited.value.output


RECIPE_CHECK = "check=lambda connection: check_connection(pool, connection)"
POOLS_OWN_CHECK = Change("the recipe's check, which tests every pooled connection once one is dead",
                         RECIPE_CHECK, "check=ConnectionPool.check_connection")


@pytest.mark.parametrize("pool_check, answer", [
    (None, (200, "2")),
    # psycopg_pool's retry schedule (0, 1, 2 s...) outlasts its 5-second timeout: waited for.
    pytest.param(POOLS_OWN_CHECK, (503, UNAVAILABLE), marks=[pytest.mark.upstream, pytest.mark.slow]),
], ids=["recipe", "pool's own check"])
def test_postgres_restarted_the_next_visit_counts_on(tmp_path, services, recipe_server, pool_check, answer):
    """A restart kills every pooled connection; the pool alone finds them one at a time, and times out."""
    app = recipe_copy("scale-out", tmp_path / "copy", *[pool_check] if pool_check else [])
    server = recipe_server(app, services.cookbook_database())
    cookie = get(server, "/count").cookie()
    counted_at_once(server)  # requests at once: the pool opens more than its four connections
    with services.postgres_stopped():
        pass
    started = time.monotonic()
    seen = get(server, "/count", cookie=cookie)
    seconds = time.monotonic() - started
    print(f"\nthe first visit after the restart: {seen.status} after {seconds:.2f} s")
    assert (seen.status, seen.text) == answer
    if pool_check:
        assert seconds >= 5, "the 503 comes once the pool's timeout has passed"
