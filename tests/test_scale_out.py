"""What the scale-out page says beyond its transcripts."""
import re

import pytest

from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get
from harness.copies import HELD_COUNT, count_after_an_overlapping_reset, recipe_copy
from harness.processes import RecipeExited, start_recipe
from harness.transcripts import Page

APP = RECIPES_CATALOGUE["scale-out"].app


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


def test_a_request_that_overlaps_a_reset_stores_the_session_again(services, recipe_server, tmp_path):
    """No locking: a request that loaded the session before /reset deleted it stores it again."""
    server = recipe_server(recipe_copy("scale-out", tmp_path, *HELD_COUNT), services.redis())
    assert count_after_an_overlapping_reset(server, tmp_path) == 3
