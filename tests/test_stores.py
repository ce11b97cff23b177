"""What the stores page says about web.py 0.76's stores beyond its transcripts."""
import dbm.dumb
import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get
from harness.copies import HELD_COUNT, Change, count_after_an_overlap, recipe_copy
from harness.in_process import cookie_header, import_recipe
from harness.processes import RecipeExited, python_env, start_recipe

APP = RECIPES_CATALOGUE["stores"].app
SHELF = 'ShelfStore(open_shelf("sessions.shelf"))'
WEB_PY_SHELF_STORE = Change("the store's lock and syncs: web.py's own ShelfStore", SHELF, "web.session." + SHELF)
UNSYNCED = [Change("the sync after each change", f"super().{method}\n            self.shelf.sync()\n",
                   f"super().{method}\n") for method in ["__setitem__(key, value)", "__delitem__(key)"]]
WITHOUT_OPEN_SHELF = Change("open_shelf(), which puts a damaged index aside", SHELF,
                            'ShelfStore(shelve.Shelf(dbm.dumb.open("sessions.shelf", "c")))')


def visit(server, cookie=None):
    """GET /count with this cookie: the count, and the cookie the answer sets."""
    answer = get(server, "/count", cookie=cookie)
    assert answer.status == 200, answer.text
    return answer.text, answer.cookie()


@pytest.mark.parametrize("store, counts", [
    ("disk", ["1", "2", "3", "4", "5"]),
    ("sqlite", ["1", "2", "3", "4", "5"]),
    ("shelf", ["1", "1", "2", "1", "3"]),
    ("memory", ["1", "1", "2", "1", "3"]),
])
def test_two_processes_in_one_directory(recipe_server, store, counts):
    """One cookie sent to two processes in turn: disk and sqlite share the session, shelf and memory don't."""
    first, second = (recipe_server(APP, {"SESSION_STORE": store}) for _ in range(2))
    body, cookie = visit(first)
    seen = [body] + [visit(server, cookie=cookie)[0] for server in [second, first, second, first]]
    assert seen == counts


def second_visits(server, rounds):
    """Up to `rounds` times, 200 first visits, 20 at a time, then each visitor's second.

    Return (swapped, other): the visitors who came back with the cookie of another
    visitor of their round, and those who came back with anything else than a
    count of 2 and their own cookie. Stop after the first round with a swap.
    """
    swapped, other = [], []
    with ThreadPoolExecutor(max_workers=20) as pool:
        for _ in range(rounds):
            cookies = [cookie for _, cookie in pool.map(lambda _: visit(server), range(200))]
            assert len(set(cookies)) == len(cookies), "two first visits got the same cookie"
            again = pool.map(lambda cookie: visit(server, cookie=cookie), cookies)
            for cookie, answer in zip(cookies, again):
                if answer[1] in cookies and answer[1] != cookie:
                    swapped.append((cookie, answer))
                elif answer != ("2", cookie):
                    other.append((cookie, answer))
            if swapped:
                break
    return swapped, other


@pytest.mark.upstream
def test_web_py_shelf_store_swaps_sessions_between_threads(tmp_path, recipe_server):
    """web.session.ShelfStore as it is, on dbm.dumb: some visitors come back with another visitor's cookie."""
    plain = recipe_server(recipe_copy("stores", tmp_path / "plain", WEB_PY_SHELF_STORE), {"SESSION_STORE": "shelf"})
    swapped, _ = second_visits(plain, rounds=10)
    assert swapped


def test_the_recipe_shelf_store_keeps_each_visitor_session(recipe_server):
    """As many rounds as web.py's ShelfStore took to swap sessions in every one of 20 runs of the test
    above (the first round in 13, the second in 7)."""
    assert second_visits(recipe_server(APP, {"SESSION_STORE": "shelf"}), rounds=2) == ([], [])


@pytest.mark.upstream
def test_dbm_dumb_threads_adding_keys_at_once_can_write_at_the_same_place(tmp_path):
    """dbm.dumb appends each new value at the end of its data file, found without a lock."""
    keys = [f"key{i:04d}".encode() for i in range(400)]
    for attempt in range(200):
        with dbm.dumb.open(str(tmp_path / f"db{attempt}"), "c") as db:
            with ThreadPoolExecutor(max_workers=20) as pool:
                list(pool.map(lambda key: db.__setitem__(key, key), keys))
            wrong = {key: db[key] for key in keys if db[key] != key}
        if wrong:
            break
    assert wrong and set(wrong.values()) <= set(keys), "some keys read the value of another key"


def python_builds():
    """This interpreter, and Debian's own if there is one: two builds that may have different dbm modules."""
    found = {}
    for python in [sys.executable, "/usr/bin/python3"]:
        if os.path.exists(python):
            found.setdefault(os.path.realpath(python), python)
    return list(found.values())


FIRST_DBM = """
import dbm, importlib, shelve
shelve.open("shelf").close()
def has(name):
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False
print(dbm.whichdb("shelf"), [name for name in dbm._names if has(name)][0])
"""


@pytest.mark.upstream
@pytest.mark.parametrize("python", python_builds())
def test_shelve_open_uses_the_first_dbm_module_the_python_build_has(tmp_path, python):
    made_by, first = subprocess.run([python, "-c", FIRST_DBM], cwd=tmp_path, env=python_env(), check=True,
                                    stdout=subprocess.PIPE, text=True).stdout.split()
    assert made_by == first


def visits_then_restart(app, recipe_server, count):
    """Count to `count` with one cookie, stop the server with SIGTERM, start it again: its answer and log."""
    server = recipe_server(app, {"SESSION_STORE": "shelf"})
    body, cookie = visit(server)
    for _ in range(count - 1):
        body, _ = visit(server, cookie=cookie)
    assert body == str(count)
    server = server.restarted()  # stopped with SIGTERM first, as the page's restarts
    try:
        answer = get(server, "/count", cookie=cookie)
        return (answer.text if answer.status == 200 else answer.status), server.log()
    finally:
        server.stop()


def test_the_recipe_shelf_keeps_a_session_that_grew_across_a_sigterm_stop(recipe_server):
    """Past 255 the count takes one byte more in the session's pickle; the recipe syncs after each change."""
    assert visits_then_restart(APP, recipe_server, 300)[0] == "301"


@pytest.mark.upstream
def test_unsynced_a_session_that_grew_fails_after_a_sigterm_stop(tmp_path, recipe_server):
    """Without the recipe's sync(), the restart reads the session at the size dbm.dumb's index file has."""
    unsynced = recipe_copy("stores", tmp_path / "unsynced", *UNSYNCED)
    answer, log = visits_then_restart(unsynced, recipe_server, 300)
    assert answer == 500
    assert "UnpicklingError: pickle data was truncated" in log


MOVE_THEN_SIGTERM = """
import dbm.dumb, os, signal
db = dbm.dumb.open("db", "c")
db["key"] = b"small"
db["key"] = b"large" * 200  # 1000 bytes: more than its 512-byte block, so it moves
os.kill(os.getpid(), signal.SIGTERM)
"""


@pytest.mark.upstream
def test_dbm_dumb_after_a_sigterm_reads_a_moved_value_at_its_old_place(tmp_path):
    """dbm.dumb writes a new key to its index file at once, a value's new place only on sync or close."""
    stopped = subprocess.run([sys.executable, "-c", MOVE_THEN_SIGTERM], cwd=tmp_path, env=python_env())
    assert stopped.returncode == -15
    with dbm.dumb.open(str(tmp_path / "db"), "c") as db:
        assert db["key"] == b"small"


INDEX_AFTER_A_KILL = {  # what a SIGKILL while dbm.dumb rewrites its index can leave of it
    "absent": None,
    "empty": lambda index: b"",
    "cut after a whole line": lambda index: index[:index.rindex(b"\n", 0, -1) + 1],
    "cut in the middle of a line": lambda index: index[:-30],
    "cut after the key of a line": lambda index: index[:index.rindex(b"', (") + 1],
}


def visits_after_a_kill_damaged_the_index(app, directory, damage):
    """Four visitors twice each, a SIGKILL, the index damaged as a kill during its rewrite can
    leave it, then each visitor again: each one's count, whether the cookie stayed, the log."""
    server = start_recipe(app, directory, {"SESSION_STORE": "shelf"})
    cookies = [visit(server)[1] for _ in range(4)]
    for cookie in cookies:
        visit(server, cookie=cookie)
    server.kill()
    index = directory / "sessions.shelf.dir"
    if INDEX_AFTER_A_KILL[damage] is None:
        index.unlink()
    else:
        index.write_bytes(INDEX_AFTER_A_KILL[damage](index.read_bytes()))
    server = start_recipe(app, directory, {"SESSION_STORE": "shelf"})
    try:
        answers = [visit(server, cookie=cookie) for cookie in cookies]
        return [(body, given == cookie) for (body, given), cookie in zip(answers, cookies)], server.log()
    finally:
        server.stop()


@pytest.mark.parametrize("damage, answers", [
    ("absent", [("1", False)] * 4),
    ("empty", [("1", False)] * 4),
    ("cut after a whole line", [("3", True)] * 3 + [("1", False)]),
    ("cut in the middle of a line", [("1", False)] * 4),
    ("cut after the key of a line", [("1", False)] * 4),
])
def test_the_recipe_shelf_after_a_kill_damaged_its_index(tmp_path, damage, answers):
    """The recipe starts each time; the sessions the index lost start afresh."""
    seen, log = visits_after_a_kill_damaged_the_index(APP, tmp_path, damage)
    assert seen == answers
    assert "Traceback" not in log
    refused_by_dbm_dumb = damage in ("cut in the middle of a line", "cut after the key of a line")
    assert ("moved to sessions.shelf.dir.damaged" in log) == refused_by_dbm_dumb


@pytest.mark.upstream
@pytest.mark.parametrize("damage, error", [
    ("cut in the middle of a line", "SyntaxError"),
    ("cut after the key of a line", "ValueError"),
])
def test_dbm_dumb_refuses_to_open_an_index_cut_in_the_middle_of_a_line(tmp_path, damage, error):
    """Without the recipe's open_shelf(), the shelf does not open and the recipe does not start."""
    plain = recipe_copy("stores", tmp_path, WITHOUT_OPEN_SHELF)
    with pytest.raises(RecipeExited, match=error):
        visits_after_a_kill_damaged_the_index(plain, tmp_path, damage)


@pytest.mark.upstream
@pytest.mark.parametrize("new_value, read_through_the_bak", [
    (b"x" * 300, "a truncated value"),  # longer, in its 512-byte block
    (b"x" * 600, "the value before"),  # too long for its block: moved to the end of the file
])
def test_dbm_dumb_bak_gives_the_value_changed_last_a_wrong_size_or_place(tmp_path, new_value, read_through_the_bak):
    """Why the recipe does not rebuild a cut index from sessions.shelf.bak."""
    with dbm.dumb.open(str(tmp_path / "db"), "c") as db:
        db[b"key"] = b"v" * 200
        db.sync()
        db[b"key"] = new_value
        db.sync()
        index_before = (tmp_path / "db.bak").read_bytes()  # what a kill during this sync leaves in db.bak
    (tmp_path / "db.dir").write_bytes(index_before)
    with dbm.dumb.open(str(tmp_path / "db"), "r") as db:
        read = db[b"key"]
    assert {new_value[:200]: "a truncated value", b"v" * 200: "the value before"}[read] == read_through_the_bak


def test_the_shelf_lock_does_not_stop_overlapping_requests_losing_updates(recipe_server, tmp_path):
    """The lock guards each store operation, not a session from load to save (disk and sqlite: see count, dbstore)."""
    server = recipe_server(recipe_copy("stores", tmp_path, *HELD_COUNT), {"SESSION_STORE": "shelf"})
    assert count_after_an_overlap(server, tmp_path) == 3


@pytest.mark.parametrize("store", ["disk", "shelf", "sqlite", "memory"])
def test_reset_of_a_session_never_saved(tmp_path, monkeypatch, store):
    """kill() of a session the store never saw: no error with any of the recipe's stores."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_STORE", store)
    recipe = import_recipe("stores")
    response = recipe.app.request("/reset", method="POST")
    if store == "shelf":  # now, in tmp_path: dbm.dumb writes its index to a relative path when it closes
        recipe.session.store.shelf.close()
    assert (response.status, response.data) == ("200 OK", b"Reset")


def test_a_session_added_during_the_memory_stores_cleanup_fails_its_request(tmp_path, monkeypatch):
    """web.py's MemoryStore.cleanup() walks its dict with no lock: a session another thread adds in
    between (here, at a chosen step: while the first entry is read) raises RuntimeError, and the
    request that ran the cleanup (the process's first, then one per `timeout`) answers 500."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_STORE", "memory")
    recipe = import_recipe("stores")
    entries = recipe.session.store.d_store

    class ReadWhileAnotherSessionIsAdded:
        def __iter__(self):  # the cleanup unpacks each entry: (last use, data)
            entries["added meanwhile"] = (0, {})
            return iter((0, {}))

    entries.update(first=ReadWhileAnotherSessionIsAdded(), second=(0, {}))
    with pytest.raises(RuntimeError, match="dictionary changed size during iteration"):
        recipe.session.store.cleanup(10**9)
    entries.pop("added meanwhile")
    assert recipe.app.request("/count").status == "500 Internal Server Error"


@pytest.fixture
def shelf_recipe(tmp_path, monkeypatch):
    """The stores recipe on its shelf, imported as a new process would, each rewrite of its
    index (dbm.dumb's _commit opening the .dir file to write it whole) counted in `rewrites`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSION_STORE", "shelf")
    recipe = import_recipe("stores")
    database = recipe.session.store.shelf.dict  # the dbm.dumb database under the shelf
    recipe.rewrites = []

    class CountedIo:  # dbm.dumb's _commit writes the index through the database's own `_io`
        def __getattr__(self, name):
            return getattr(io, name)

        def open(self, path, mode="r", *args, **kwargs):
            if path == database._dirfile and "w" in mode:
                recipe.rewrites.append(path)
            return io.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(database, "_io", CountedIo(), raising=False)
    yield recipe
    # Closed here, in tmp_path: dbm.dumb writes its index to a relative path when it closes, and left to the
    # garbage collector it did so later, in the directory the run started in.
    recipe.session.store.shelf.close()


def test_the_recipe_shelf_rewrites_its_index_twice_for_a_returning_visitor_once_for_a_new_one(shelf_recipe):
    """web.py's ShelfStore writes a session back as it reads it, and the recipe syncs after each write:
    every sync rewrites dbm.dumb's whole index. A new visitor's session is only written, once."""
    returning = cookie_header(shelf_recipe.app.request("/count"))
    shelf_recipe.rewrites.clear()
    shelf_recipe.app.request("/count", headers=returning)
    assert len(shelf_recipe.rewrites) == 2
    shelf_recipe.rewrites.clear()
    shelf_recipe.app.request("/count")
    assert len(shelf_recipe.rewrites) == 1


def test_the_recipe_shelf_cleanup_rewrites_its_index_twice_per_expired_session(shelf_recipe):
    """Once in dbm.dumb's own delete (it commits), once in the recipe's sync after it."""
    for _ in range(5):
        shelf_recipe.app.request("/count")
    shelf_recipe.rewrites.clear()
    shelf_recipe.session.store.cleanup(-1)  # every session is older than -1 second
    assert (len(shelf_recipe.rewrites), len(shelf_recipe.session.store.shelf)) == (10, 0)


def test_the_shelf_dat_file_keeps_a_deleted_session(shelf_recipe, tmp_path):
    """dbm.dumb never reclaims the space of a deleted value: the session's data stays in .dat."""
    returning = cookie_header(shelf_recipe.app.request("/count"))
    session_id = returning["Cookie"].split("=")[1]
    shelf_recipe.app.request("/reset", method="POST", headers=returning)
    assert session_id not in shelf_recipe.session.store.shelf
    assert session_id.encode() in (tmp_path / "sessions.shelf.dat").read_bytes()
