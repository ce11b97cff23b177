"""What the count page says about web.py 0.76 beyond its transcripts."""
import ast

import pytest

from harness import RECIPES

from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get, method_for, request
from harness.copies import HELD_COUNT, Change, count_after_an_overlap, count_after_an_overlapping_reset, recipe_copy
from harness.in_process import cookie_header, import_recipe

SESSION = 'session = web.session.Session(\n    app, web.session.DiskStore("sessions"), initializer={"count": 0}\n)\n'
DEBUG_ON = Change("debug mode off: web.py's reloader on", "web.config.debug = False\n")
OLD_GUARD = Change("nothing: the old cookbook's guard, one Session kept in web.config", SESSION, """
if web.config.get("_session") is None:
    session = web.session.Session(app, web.session.DiskStore("sessions"), initializer={"count": 0})
    web.config._session = session
else:
    session = web.config._session
""")


@pytest.mark.parametrize("guard", [False, True], ids=["plain", "with the old cookbook's guard"])
def test_debug_mode_breaks_the_session(tmp_path, recipe_server, guard):
    """Without `web.config.debug = False` the reloader makes a second Session: 500s."""
    changes = [DEBUG_ON, OLD_GUARD] if guard else [DEBUG_ON]
    server = recipe_server(recipe_copy("count", tmp_path, *changes))
    statuses = [request(server, path, method_for(path)).status for path in ["/count", "/reset"]]
    assert statuses == [500, 500]
    assert "AttributeError: 'ThreadedDict' object has no attribute 'count'" in server.log()
    assert "AttributeError: 'ThreadedDict' object has no attribute 'session_id'" in server.log()


def test_overlapping_requests_of_one_session_lose_updates(recipe_server, tmp_path):
    """No locking: a request that loaded the session before another saved it writes over its count."""
    server = recipe_server(recipe_copy("count", tmp_path, *HELD_COUNT))
    assert count_after_an_overlap(server, tmp_path) == 3


def test_count_with_the_test_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # DiskStore("sessions") is relative to the working directory
    recipe = import_recipe("count")
    first = recipe.app.request("/count")
    assert first.data == b"1"
    cookie = cookie_header(first)
    assert recipe.app.request("/count", headers=cookie).data == b"2"
    assert recipe.app.request("/reset", method="POST", headers=cookie).data == b"Reset"
    assert list((tmp_path / "sessions").iterdir()) == []


def test_a_request_that_overlaps_a_reset_stores_the_session_again(recipe_server, tmp_path):
    """No locking: a request that loaded the session before /reset deleted it writes it back after."""
    server = recipe_server(recipe_copy("count", tmp_path, *HELD_COUNT))
    assert count_after_an_overlapping_reset(server, tmp_path) == 3


def test_every_recipes_reset_takes_a_post_only():
    """As the page says: /reset changes the session, so no recipe answers it to a GET (a link)."""
    methods = {}
    for path in sorted(RECIPES.glob("*/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name == "reset":
                methods[str(path.relative_to(RECIPES))] = [item.name for item in node.body
                                                           if isinstance(item, ast.FunctionDef)]
    assert len(methods) > 10, methods
    assert {path: names for path, names in methods.items() if names != ["POST"]} == {}
