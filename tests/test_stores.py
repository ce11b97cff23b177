"""What the stores page says about web.py 0.76's stores beyond its transcripts."""
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import RECIPES, count_at_once, import_recipe, start_recipe

APP = RECIPES / "stores" / "app.py"


def visit(server, path="/count", cookie=None):
    """GET path with this cookie; return the body and the cookie the answer sets."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers={"Cookie": cookie} if cookie else {})
    response = urllib.request.urlopen(request, timeout=10)
    return response.read().decode(), response.headers["Set-Cookie"].split(";")[0]


@pytest.mark.parametrize("store, counts", [
    ("disk", ["1", "2", "3", "4", "5"]),
    ("sqlite", ["1", "2", "3", "4", "5"]),
    ("shelf", ["1", "1", "2", "1", "3"]),
    ("memory", ["1", "1", "2", "1", "3"]),
])
def test_two_processes_in_one_directory(tmp_path, store, counts):
    """One cookie sent to two processes in turn: disk and sqlite share the session, shelf and memory don't."""
    first = start_recipe(APP, tmp_path, {"SESSION_STORE": store})
    second = start_recipe(APP, tmp_path, {"SESSION_STORE": store})
    try:
        body, cookie = visit(first)
        seen = [body] + [visit(server, cookie=cookie)[0] for server in [second, first, second, first]]
    finally:
        first.stop()
        second.stop()
    assert seen == counts


def swapped_sessions(app, tmp_path, rounds):
    """Up to `rounds` times, 200 first visits, 20 at a time, then each visitor's second: return who came back as someone else."""
    server = start_recipe(app, tmp_path, {"SESSION_STORE": "shelf"})
    swapped = []
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            for _ in range(rounds):
                cookies = [cookie for _, cookie in pool.map(lambda _: visit(server), range(200))]
                again = pool.map(lambda cookie: visit(server, cookie=cookie), cookies)
                swapped += [(cookie, answer) for cookie, answer in zip(cookies, again) if answer != ("2", cookie)]
                if swapped:
                    break
    finally:
        server.stop()
    return swapped


def test_web_py_shelf_store_swaps_sessions_between_threads(tmp_path):
    """web.session.ShelfStore as it is: some visitors get another visitor's count and cookie."""
    source = APP.read_text()
    plain = source.replace("ShelfStore(shelve.open(", "web.session.ShelfStore(shelve.open(")
    assert plain != source
    (tmp_path / "app.py").write_text(plain)
    assert swapped_sessions(tmp_path / "app.py", tmp_path, rounds=10)


def test_the_recipe_shelf_store_keeps_each_visitor_session(tmp_path):
    assert swapped_sessions(APP, tmp_path, rounds=4) == []


def test_the_shelf_lock_does_not_stop_overlapping_requests_losing_updates(tmp_path):
    """The lock guards each store operation, not a session from load to save (disk and sqlite: see count, dbstore)."""
    server = start_recipe(APP, tmp_path, {"SESSION_STORE": "shelf"})
    try:
        counted = min(count_at_once(server.port, requests=40) for _ in range(3))
    finally:
        server.stop()
    assert counted < 40, f"{counted} of 40: no update was lost"


@pytest.mark.parametrize("store", ["disk", "shelf", "sqlite", "memory"])
def test_reset_of_a_session_never_saved(tmp_path, monkeypatch, store):
    """kill() of a session the store never saw: no error with any of the recipe's stores."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_STORE", store)
    response = import_recipe("stores").app.request("/reset")
    assert (response.status, response.data) == ("200 OK", b"Reset")
