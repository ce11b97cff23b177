"""What the resilience page says beyond its transcripts: a store that fails, and each defence removed.

Each scenario returns what a visitor saw; the recipe must give EXPECTED, and a copy of the recipe
with one defence taken out must not (the same scenario, the same comparison, so the test fails).
Here: the session files' directory gone, a record that cannot be read (on files and on PostgreSQL),
and what the store is asked. PostgreSQL stopped and started again, which takes real seconds:
tests/test_resilience_outages.py.
"""
import subprocess
import time
from contextlib import contextmanager

import psycopg
import pytest

from harness.client import Visitor
from harness.copies import Change, recipe_copy
from harness.in_process import cookie_header, import_recipe, recorded_calls, store_calls_by_request
from harness.processes import python_env

PUBLIC = (200, b"Welcome: this page uses no session.\n")
UNAVAILABLE = (503, b"The session store is unavailable, try again later.\n")
PATIENCE = 10  # seconds a visitor waits for an answer

LAZY = Change("the lazy session: web.py's Session, which loads it for every page",
              "session = LazySession(", "session = web.session.Session(")
HANDLER = Change("the 503 for a store that fails: web.py's own 500", "app.internalerror = internal_error\n")
FILESTORE = Change("FileStore: web.py's DiskStore", 'store = FileStore("sessions")',
                   'store = web.session.DiskStore("sessions")')
UNREADABLE_CHECK = Change("the check that a row holds an object",
                          "        if not isinstance(row[0], dict):\n"
                          '            raise StoreUnavailable(f"record {key} is unreadable: {row[0]!r}")\n')


def resilience(directory, *removed):
    """The recipe's app.py, or a copy of it in `directory` with the defences `removed`."""
    return recipe_copy("resilience", directory, *removed)


def seen(visitor, path):
    """(status, body) of the visitor's GET, or ("no answer", PATIENCE) when none came in time."""
    try:
        answer = visitor.get(path, timeout=PATIENCE)
    except TimeoutError:
        return "no answer", PATIENCE
    assert b"Traceback" not in answer.body
    return answer.status, answer.body


def timed(visitor, path):
    """What `seen` returns, and the seconds it took."""
    started = time.monotonic()
    answer = seen(visitor, path)
    return answer, time.monotonic() - started


@contextmanager
def directory_replaced_by_a_file(path):
    """The store's directory moved away and a file put in its place: it fails for root too."""
    path.rename(path.with_name("sessions.away"))
    path.touch()
    try:
        yield
    finally:
        path.unlink()
        path.with_name("sessions.away").rename(path)


# Where things went wrong, and the visitor's answers, key by key.
EXPECTED_OUTAGE = {
    "public page": PUBLIC,
    "count": UNAVAILABLE,
    "count: within seconds": True,
    "new visitor": UNAVAILABLE,
    "after": (200, b"3"),
}


def files_outage(recipe_server, app, cwd):
    server = recipe_server(app, cwd=cwd)
    visitor = Visitor(server)
    assert [seen(visitor, "/count"), seen(visitor, "/count")] == [(200, b"1"), (200, b"2")]
    with directory_replaced_by_a_file(cwd / "sessions"):
        outage = {"public page": seen(visitor, "/")}
        outage["count"], seconds = timed(visitor, "/count")
        outage["count: within seconds"] = seconds < 5
        outage["new visitor"] = seen(Visitor(server), "/count")
    return dict(outage, after=seen(visitor, "/count"))


def test_files_outage_public_pages_served_503_then_counting_on(tmp_path, recipe_server):
    assert files_outage(recipe_server, resilience(tmp_path), tmp_path) == EXPECTED_OUTAGE


def test_files_outage_without_each_defence(tmp_path, recipe_server):
    seen_by = {}
    for name, removed in {"Session": LAZY, "DiskStore": FILESTORE, "handler": HANDLER}.items():
        seen_by[name] = files_outage(recipe_server, resilience(tmp_path / name, removed), tmp_path / name)
        assert seen_by[name] != EXPECTED_OUTAGE, name
    # web.py's Session loads the session for the public page too.
    assert seen_by["Session"]["public page"] == UNAVAILABLE
    # DiskStore calls the session new, starts another one whose write fails unseen: the count is lost.
    assert seen_by["DiskStore"]["count"] == (200, b"1") and seen_by["DiskStore"]["after"] == (200, b"1")
    # web.py's own internal error: a bare 500.
    assert seen_by["handler"]["count"][0] == 500


EXPECTED_UNREADABLE = {
    "public page": PUBLIC,
    "count": UNAVAILABLE,
    "record kept": True,
    "after": (200, b"3"),
    "log names the record": True,
}


def files_unreadable(recipe_server, app, cwd):
    """The visitor's record cut short (a full disk, a copy stopped half way), then put back."""
    server = recipe_server(app, cwd=cwd)
    visitor = Visitor(server)
    assert [seen(visitor, "/count"), seen(visitor, "/count")] == [(200, b"1"), (200, b"2")]
    record = cwd / "sessions" / visitor.session_id
    whole = record.read_bytes()
    record.write_bytes(whole[:20])
    unreadable = {"public page": seen(visitor, "/"), "count": seen(visitor, "/count")}
    unreadable["record kept"] = record.read_bytes() == whole[:20]
    record.write_bytes(whole)
    unreadable["after"] = seen(visitor, "/count")
    unreadable["log names the record"] = f"record {record.name} is unreadable" in server.log()
    return unreadable


def test_files_unreadable_record_503_and_kept(tmp_path, recipe_server):
    assert files_unreadable(recipe_server, resilience(tmp_path), tmp_path) == EXPECTED_UNREADABLE


@pytest.mark.parametrize("removed, what_changes", [
    ([LAZY], {"public page": UNAVAILABLE}),
    ([FILESTORE], {"count": 500}),
    ([LAZY, FILESTORE, HANDLER], {"public page": 500, "count": 500}),
], ids=["Session", "DiskStore", "web.py's Session, DiskStore and 500"])
def test_files_unreadable_record_without_each_defence(tmp_path, recipe_server, removed, what_changes):
    unreadable = files_unreadable(recipe_server, resilience(tmp_path, *removed), tmp_path)
    assert unreadable != EXPECTED_UNREADABLE
    for key, answer in what_changes.items():
        assert unreadable[key] == answer or unreadable[key][0] == answer, (key, unreadable[key])


def postgres_unreadable(recipe_server, app, env):
    """The visitor's row made a JSON array holding the session, then put back."""
    def psql(sql):
        return subprocess.run(["psql", "-d", "cookbook", "-qAt", "-c", sql], env=python_env(env),
                              check=True, capture_output=True, text=True).stdout

    server = recipe_server(app, env)
    visitor = Visitor(server)
    assert [seen(visitor, "/count"), seen(visitor, "/count")] == [(200, b"1"), (200, b"2")]
    psql("UPDATE sessions SET data = jsonb_build_array(data)")
    unreadable = {"public page": seen(visitor, "/"), "count": seen(visitor, "/count")}
    unreadable["record kept"] = psql("SELECT data->0->>'count' FROM sessions") == "2\n"
    psql("UPDATE sessions SET data = data->0")
    unreadable["after"] = seen(visitor, "/count")
    unreadable["log names the record"] = f"record {visitor.session_id} is unreadable" in server.log()
    return unreadable


def test_postgres_unreadable_record_503_and_kept(tmp_path, services, recipe_server):
    unreadable = postgres_unreadable(recipe_server, resilience(tmp_path), services.cookbook_database())
    assert unreadable == EXPECTED_UNREADABLE


@pytest.mark.parametrize("removed, what_changes", [
    ([LAZY], {"public page": UNAVAILABLE}),
    ([UNREADABLE_CHECK], {"count": 500}),
], ids=["Session", "no isinstance check"])
def test_postgres_unreadable_record_without_each_defence(tmp_path, services, recipe_server, removed, what_changes):
    unreadable = postgres_unreadable(recipe_server, resilience(tmp_path / "copy", *removed),
                                     services.cookbook_database())
    assert unreadable != EXPECTED_UNREADABLE
    for key, answer in what_changes.items():
        assert unreadable[key] == answer or unreadable[key][0] == answer, (key, unreadable[key])


def test_other_errors_stay_a_500(tmp_path, monkeypatch):
    """Only the store's failures become 503: a bug in a handler is still web.py's 500."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    recipe = import_recipe("resilience")
    monkeypatch.setattr(recipe.count, "GET", lambda self: 1 / 0)
    assert recipe.app.request("/count").status == "500 Internal Server Error"
    assert recipe.app.request("/").status == "200 OK"


def test_postgres_statements_each_lent_connection_checked_first(tmp_path, services, monkeypatch):
    """Two or three statements per request that uses the session, none for the home page, and
    `check` sends an empty query each time the pool lends a connection."""
    monkeypatch.chdir(tmp_path)
    for name, value in services.cookbook_database().items():
        monkeypatch.setenv(name, value)
    recipe = import_recipe("resilience")
    log = recorded_calls(monkeypatch, psycopg.Connection, "execute",
                         lambda query, *args: query.split()[0] if query else "check")

    try:
        rows = store_calls_by_request(recipe.app, log)
        returning = cookie_header(recipe.app.request("/count"))
        log.clear()
        recipe.app.request("/", headers=returning)
    finally:
        recipe.pool.close()
    assert rows["new"] == ["check", "SELECT", "check", "INSERT"]
    assert rows["returning"] == ["check", "SELECT", "check", "SELECT", "check", "INSERT"]
    assert log == [], "the home page asked the store"
