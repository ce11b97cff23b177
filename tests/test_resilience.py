"""What the resilience page says beyond its transcripts: real outages of each store, and each defence removed.

Each scenario returns what a visitor saw; the recipe must give EXPECTED, and a copy of the recipe
with one defence taken out must not (the same scenario, the same comparison, so the test fails).
"""
import http.client
import re
import socket
import subprocess
import time
from contextlib import contextmanager

import psycopg
import pytest

from harness import (RECIPES, count_at_once, import_recipe, python_env, recorded_calls, session_cookie, start_recipe,
                     store_calls_by_request)

RECIPE = RECIPES / "resilience" / "app.py"
SOURCE = RECIPE.read_text()
PUBLIC = (200, b"Welcome: this page uses no session.\n")
UNAVAILABLE = (503, b"The session store is unavailable, try again later.\n")
SESSION_ID = re.compile(r"webpy_session_id=([0-9a-f]*);")
PATIENCE = 10  # seconds a visitor waits for an answer

#: Defences, each as (the text of the recipe, what a copy without it says instead).
LAZY = ("session = LazySession(", "session = web.session.Session(")
HANDLER = ("app.internalerror = internal_error\n", "")
FILESTORE = ('store = FileStore("sessions")', 'store = web.session.DiskStore("sessions")')
CHECK = (re.search(r" +check=.*\n", SOURCE).group(), "")
CHECK_ONE_BY_ONE = ("check=check_connection,", "check=ConnectionPool.check_connection,")
RECONNECT = (re.search(r" +reconnect_timeout=.*\n", SOURCE).group(), "")
TIMEOUT = (re.search(r" +timeout=3, .*\n", SOURCE).group(), "")


def variant(tmp_path, *removed):
    """tmp_path/stock/app.py: the recipe with each (old, new) of `removed` made, defences taken out."""
    source = SOURCE
    for old, new in removed:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    (tmp_path / "stock").mkdir(parents=True)
    app = tmp_path / "stock" / "app.py"
    app.write_text(source)
    return app


class Visitor:
    """A browser on one server: it keeps the session cookie it is given, as curl -b -c does."""

    def __init__(self, port):
        self.port, self.session_id = port, None

    def get(self, path):
        """(status, body), or ("no answer", seconds) when none came within PATIENCE seconds."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PATIENCE)
        headers = {"Cookie": f"webpy_session_id={self.session_id}"} if self.session_id else {}
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except socket.timeout:
            return "no answer", PATIENCE
        finally:
            connection.close()
        cookie = SESSION_ID.search(response.getheader("Set-Cookie", ""))
        if cookie:
            self.session_id = cookie.group(1) or None
        assert b"Traceback" not in body
        return response.status, body

    def timed(self, path):
        started = time.monotonic()
        answer = self.get(path)
        return answer, time.monotonic() - started


@contextmanager
def recipe_running(app, cwd, env):
    server = start_recipe(app, cwd, env)
    try:
        yield server
    finally:
        server.stop()


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


def files_outage(app, tmp_path):
    with recipe_running(app, tmp_path, {}) as server:
        visitor = Visitor(server.port)
        assert [visitor.get("/count"), visitor.get("/count")] == [(200, b"1"), (200, b"2")]
        with directory_replaced_by_a_file(tmp_path / "sessions"):
            seen = {"public page": visitor.get("/")}
            seen["count"], seconds = visitor.timed("/count")
            seen["count: within seconds"] = seconds < 5
            seen["new visitor"] = Visitor(server.port).get("/count")
        seen["after"] = visitor.get("/count")
    return seen


def test_files_outage_public_pages_served_503_then_counting_on(tmp_path):
    assert files_outage(RECIPE, tmp_path) == EXPECTED_OUTAGE


def test_files_outage_without_each_defence(tmp_path):
    seen = {}
    for name, removed in {"Session": [LAZY], "DiskStore": [FILESTORE], "handler": [HANDLER]}.items():
        seen[name] = files_outage(variant(tmp_path / name, *removed), tmp_path / name)
        assert seen[name] != EXPECTED_OUTAGE, name
    # web.py's Session loads the session for the public page too.
    assert seen["Session"]["public page"] == UNAVAILABLE
    # DiskStore calls the session new, starts another one whose write fails unseen: the count is lost.
    assert seen["DiskStore"]["count"] == (200, b"1") and seen["DiskStore"]["after"] == (200, b"1")
    # web.py's own internal error: a bare 500.
    assert seen["handler"]["count"][0] == 500


def postgres_outage(app, tmp_path, services, hold=0):
    """PostgreSQL restarted while nobody visits; then stopped during visits, for `hold` seconds or more.

    Requests at once first make the pool open more connections than its two: a restart kills them all.
    """
    with recipe_running(app, tmp_path, services.cookbook_database()) as server:
        visitor = Visitor(server.port)
        assert [visitor.get("/count"), visitor.get("/count")] == [(200, b"1"), (200, b"2")]
        count_at_once(server.port)
        with services.postgres_stopped():
            pass
        seen = {}
        seen["after a restart"], seconds = visitor.timed("/count")
        seen["after a restart: waited the pool's timeout"] = seconds >= 3
        with services.postgres_stopped():
            started = time.monotonic()
            seen["public page"] = visitor.get("/")
            seen["count"], seconds = visitor.timed("/count")
            seen["count: within seconds"] = seconds < 5
            seen["new visitor"], seconds = Visitor(server.port).timed("/count")
            seen["new visitor: within seconds"] = seconds < 5
            time.sleep(max(0, started + hold - time.monotonic()))
        seen["after"] = visitor.get("/count")
    return seen


EXPECTED_POSTGRES_OUTAGE = dict(EXPECTED_OUTAGE, **{"after a restart": (200, b"3"), "after": (200, b"4"),
                                                    "after a restart: waited the pool's timeout": False,
                                                    "new visitor: within seconds": True})
# psycopg_pool retries a failed connection after waiting 1 second (±10%), then 2, 4, 8, 16..., until
# its reconnect_timeout: 1, 3, 7, 15, 31... seconds after the failure. Started again 19 seconds into
# the outage, PostgreSQL is back between two retries (the 4th, by 17.5 seconds, the 5th, after 27.9)
# for longer than the pool's 3-second timeout.
LONG_OUTAGE = 19


def test_postgres_outage_public_pages_served_503_then_counting_on(tmp_path, services):
    assert postgres_outage(RECIPE, tmp_path, services, hold=LONG_OUTAGE) == EXPECTED_POSTGRES_OUTAGE


@pytest.mark.parametrize("removed, what_changes", [
    ([LAZY], {"public page": UNAVAILABLE}),
    ([LAZY, HANDLER], {"public page": 500, "count": 500, "new visitor": 500}),
    ([CHECK], {"after a restart": UNAVAILABLE}),
    ([CHECK_ONE_BY_ONE], {"after a restart": UNAVAILABLE, "after a restart: waited the pool's timeout": True}),
    ([TIMEOUT], {"count": "no answer", "count: within seconds": False}),
], ids=["Session", "Session and web.py's 500", "no check", "pool's own check", "no timeout"])
def test_postgres_outage_without_each_defence(tmp_path, services, removed, what_changes):
    seen = postgres_outage(variant(tmp_path, *removed), tmp_path, services)
    assert seen != EXPECTED_POSTGRES_OUTAGE
    for key, answer in what_changes.items():
        assert seen[key] == answer or seen[key][0] == answer, (key, seen[key])


def test_postgres_long_outage_without_a_short_reconnect_timeout(tmp_path, services):
    seen = postgres_outage(variant(tmp_path, RECONNECT), tmp_path, services, hold=LONG_OUTAGE)
    assert seen != EXPECTED_POSTGRES_OUTAGE
    assert seen["after"] == UNAVAILABLE  # back, but the pool waits for its next retry


EXPECTED_UNREADABLE = {
    "public page": PUBLIC,
    "count": UNAVAILABLE,
    "record kept": True,
    "after": (200, b"3"),
    "log names the record": True,
}


def files_unreadable(app, tmp_path):
    """The visitor's record cut short (a full disk, a copy stopped half way), then put back."""
    with recipe_running(app, tmp_path, {}) as server:
        visitor = Visitor(server.port)
        assert [visitor.get("/count"), visitor.get("/count")] == [(200, b"1"), (200, b"2")]
        record = tmp_path / "sessions" / visitor.session_id
        whole = record.read_bytes()
        record.write_bytes(whole[:20])
        seen = {"public page": visitor.get("/"), "count": visitor.get("/count")}
        seen["record kept"] = record.read_bytes() == whole[:20]
        record.write_bytes(whole)
        seen["after"] = visitor.get("/count")
        seen["log names the record"] = f"record {record.name} is unreadable" in server.log()
    return seen


def test_files_unreadable_record_503_and_kept(tmp_path):
    assert files_unreadable(RECIPE, tmp_path) == EXPECTED_UNREADABLE


@pytest.mark.parametrize("removed, what_changes", [
    ([LAZY], {"public page": UNAVAILABLE}),
    ([FILESTORE], {"count": 500}),
    ([LAZY, FILESTORE, HANDLER], {"public page": 500, "count": 500}),
], ids=["Session", "DiskStore", "web.py's Session, DiskStore and 500"])
def test_files_unreadable_record_without_each_defence(tmp_path, removed, what_changes):
    seen = files_unreadable(variant(tmp_path, *removed), tmp_path)
    assert seen != EXPECTED_UNREADABLE
    for key, answer in what_changes.items():
        assert seen[key] == answer or seen[key][0] == answer, (key, seen[key])


UNREADABLE_CHECK = (re.search(r" +if not isinstance\(row\[0\], dict\):\n.*\n", SOURCE).group(), "")


def postgres_unreadable(app, tmp_path, services):
    """The visitor's row made a JSON array holding the session, then put back."""
    env = services.cookbook_database()

    def psql(sql):
        return subprocess.run(["psql", "-d", "cookbook", "-qAt", "-c", sql], env=python_env(env),
                              check=True, capture_output=True, text=True).stdout

    with recipe_running(app, tmp_path, env) as server:
        visitor = Visitor(server.port)
        assert [visitor.get("/count"), visitor.get("/count")] == [(200, b"1"), (200, b"2")]
        psql("UPDATE sessions SET data = jsonb_build_array(data)")
        seen = {"public page": visitor.get("/"), "count": visitor.get("/count")}
        seen["record kept"] = psql("SELECT data->0->>'count' FROM sessions") == "2\n"
        psql("UPDATE sessions SET data = data->0")
        seen["after"] = visitor.get("/count")
        seen["log names the record"] = f"record {visitor.session_id} is unreadable" in server.log()
    return seen


def test_postgres_unreadable_record_503_and_kept(tmp_path, services):
    assert postgres_unreadable(RECIPE, tmp_path, services) == EXPECTED_UNREADABLE


@pytest.mark.parametrize("removed, what_changes", [
    ([LAZY], {"public page": UNAVAILABLE}),
    ([UNREADABLE_CHECK], {"count": 500}),
], ids=["Session", "no isinstance check"])
def test_postgres_unreadable_record_without_each_defence(tmp_path, services, removed, what_changes):
    seen = postgres_unreadable(variant(tmp_path, *removed), tmp_path, services)
    assert seen != EXPECTED_UNREADABLE
    for key, answer in what_changes.items():
        assert seen[key] == answer or seen[key][0] == answer, (key, seen[key])


def test_other_errors_stay_a_500(tmp_path, monkeypatch):
    """Only the store's failures become 503: a bug in a handler is still web.py's 500."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    recipe = import_recipe("resilience")
    monkeypatch.setattr(recipe.count, "GET", lambda self: 1 / 0)
    assert recipe.app.request("/count").status == "500 Internal Server Error"
    assert recipe.app.request("/").status == "200 OK"


def test_postgres_outage_waiting_requests_hold_the_server_threads(tmp_path, services):
    """Ten /count waiting for the pool take web.py's ten threads: the home page waits behind them."""
    with recipe_running(RECIPE, tmp_path, services.cookbook_database()) as server:
        assert Visitor(server.port).get("/count") == (200, b"1")
        assert Visitor(server.port).timed("/")[1] < 0.5
        with services.postgres_stopped():
            waiting = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=PATIENCE) for _ in range(10)]
            for connection in waiting:  # every request sent before the home page's, however busy the machine
                connection.request("GET", "/count")
            time.sleep(0.5)
            public, seconds = Visitor(server.port).timed("/")
            answers = [(response.status, response.read()) for response in (c.getresponse() for c in waiting)]
    assert answers == [UNAVAILABLE] * 10
    assert public == PUBLIC and seconds > 1


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
        returning = session_cookie(recipe.app.request("/count"))
        log.clear()
        recipe.app.request("/", headers=returning)
    finally:
        recipe.pool.close()
    assert rows["new"] == ["check", "SELECT", "check", "INSERT"]
    assert rows["returning"] == ["check", "SELECT", "check", "SELECT", "check", "INSERT"]
    assert log == [], "the home page asked the store"
