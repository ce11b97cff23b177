"""What the resilience page says beyond its transcripts: a store that fails, and each defence removed.

Each scenario returns what a visitor saw; the recipe must give EXPECTED, and a copy of the recipe
with one defence taken out must not (the same scenario, the same comparison, so the test fails).
Here: the session files' directory gone, a record that cannot be read (on files and on PostgreSQL),
and what the store is asked; then PostgreSQL stopped and started again, real outages waited out
(those tests are `slow`).
"""
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg
import pytest

from harness import RECIPES
from harness.client import Visitor, counted_at_once, get
from harness.copies import HELD_COUNT, Change, count_after_an_overlapping_reset, recipe_copy
from harness.in_process import cookie_header, import_recipe, recorded_calls, store_calls_by_request
from harness.processes import python_env

PUBLIC = (200, b"Welcome: this page uses no session.\n")
UNAVAILABLE = (503, b"The session store is unavailable, try again later.\n")
PATIENCE = 10  # seconds a visitor waits for an answer

LAZY = Change("the lazy session: web.py's Session, which loads it for every page",
              "session = LazySession(", "session = web.session.Session(")
HANDLER = Change("the 503 for a store that fails: web.py's own 500", "answer_503_when_the_store_fails(app, StoreUnavailable)\n")
FILESTORE = Change("FileStore: web.py's DiskStore", 'store = FileStore("sessions")',
                   'store = web.session.DiskStore("sessions")')
UNREADABLE_CHECK = Change("the check that a row holds an object",
                          '            raise StoreUnavailable(f"record {key} is unreadable: {row[0]!r}")\n',
                          "            pass\n", file="pgstore.py")


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


A_BUG = Change("nothing: /count fails with an error of its own", "            session.count += 1\n", "            1 / 0\n",
               file="counting.py")
CALLS_WEB_INTERNALERROR = Change("the call of the handler replaced (web.internalerror() instead)",
                                 "        return answer_otherwise()\n", "        return web.internalerror()\n",
                                 file="store_unavailable.py")


@pytest.mark.parametrize("defence", [True, False], ids=["handler replaced", "web.internalerror()"])
def test_other_errors_stay_a_500_with_one_traceback(defence, tmp_path, recipe_server):
    """Only the store's failures become 503: a bug in a handler is still web.py's 500, logged once.
    web.internalerror() would call the application's handler, this one, again and again."""
    server = recipe_server(recipe_copy("resilience", tmp_path, A_BUG, *([] if defence else [CALLS_WEB_INTERNALERROR])),
                           {"DATABASE_URL": ""})
    assert get(server, "/count").status == 500
    assert get(server, "/").status == 200
    log = server.log()
    assert log.count("ZeroDivisionError: division by zero") >= 1
    if defence:
        assert (log.count("Traceback"), "RecursionError" in log) == (1, False), log[-2000:]
    else:
        assert "RecursionError" in log and log.count("\n") > 1000


def test_only_store_unavailable_replaces_web_pys_handler_for_errors():
    """One handler of the store's errors, in one module: the recipes that answer 503 import it."""
    setting_it = sorted(path.relative_to(RECIPES).as_posix() for path in RECIPES.glob("*/*.py")
                        if not path.is_symlink() and "app.internalerror =" in path.read_text())
    assert setting_it == ["resilience/store_unavailable.py"], setting_it


def test_postgres_statements_none_for_the_home_page(tmp_path, services, monkeypatch):
    """The postgres recipe's store: one or two statements per request that uses the session, none for
    the home page."""
    monkeypatch.chdir(tmp_path)
    for name, value in services.cookbook_database().items():
        monkeypatch.setenv(name, value)
    recipe = import_recipe("resilience")
    log = recorded_calls(monkeypatch, psycopg.Cursor, "execute", lambda query, *args: query.split()[0])

    try:
        rows = store_calls_by_request(recipe.app, log)
        returning = cookie_header(recipe.app.request("/count"))
        log.clear()
        recipe.app.request("/", headers=returning)
    finally:
        recipe.store.pool.close()
    assert rows["new"] == ["SELECT", "INSERT"]
    assert rows["returning"] == ["SELECT", "INSERT"]
    assert log == [], "the home page asked the store"


# PostgreSQL stopped and started again: real outages, waited out (all `slow`).

# The pool's settings, in the postgres recipe's store (its tests take out what makes a restart unseen).
RECONNECT = Change("the short reconnect_timeout: psycopg_pool's default", "reconnect_timeout=1,", file="pgstore.py")
TIMEOUT = Change("the pool's 3-second timeout: psycopg_pool's default", "timeout=3,", file="pgstore.py")
#: A copy that says when a /count starts (in the server's directory): the test knows its requests hold threads.
SAYS_IT_STARTED = Change("nothing: each /count says it started, in a file named after its thread",
                         "    class count:\n        def GET(self):\n",
                         "    class count:\n        def GET(self):\n"
                         '            open(f"started-{__import__(\'threading\').get_ident()}", "w").close()\n',
                         file="counting.py")

# psycopg_pool retries a failed connection after waiting 1 second (±10%), then 2, 4, 8, 16..., until
# its reconnect_timeout: 1, 3, 7, 15, 31... seconds after the failure. Started again 19 seconds into
# the outage, PostgreSQL is back between two retries (the 4th, by 17.5 seconds, the 5th, after 27.9)
# for longer than the pool's 3-second timeout.
LONG_OUTAGE = 19


def every_thread_visits(server):
    """Ten /count at once: each of web.py's ten threads, held by one, sends a statement."""
    with ThreadPoolExecutor(max_workers=10) as pool:
        return set(pool.map(lambda _: seen(Visitor(server), "/count"), range(10)))


def postgres_outage(recipe_server, app, services, hold=0):
    """PostgreSQL restarted while nobody visits; then stopped during visits, for `hold` seconds or more.

    Requests at once first make the pool lend each thread a connection: a restart kills them all. At the
    start of the outage every thread finds its connection dead, so the pool tries to replace all ten.
    """
    server = recipe_server(app, services.cookbook_database())
    visitor = Visitor(server)
    assert [seen(visitor, "/count"), seen(visitor, "/count")] == [(200, b"1"), (200, b"2")]
    counted_at_once(server)
    with services.postgres_stopped():
        pass
    outage = {}
    outage["after a restart"], seconds = timed(visitor, "/count")
    outage["after a restart: waited the pool's timeout"] = seconds >= 3
    with services.postgres_stopped():
        started = time.monotonic()
        outage["every thread"] = every_thread_visits(server)
        outage["public page"] = seen(visitor, "/")
        outage["count"], seconds = timed(visitor, "/count")
        outage["count: within seconds"] = seconds < 5
        outage["new visitor"], seconds = timed(Visitor(server), "/count")
        outage["new visitor: within seconds"] = seconds < 5
        time.sleep(max(0, started + hold - time.monotonic()))  # the outage lasts `hold` seconds
    outage["after"] = seen(visitor, "/count")
    return outage


EXPECTED_POSTGRES_OUTAGE = {
    "after a restart": (200, b"3"),
    "after a restart: waited the pool's timeout": False,
    "every thread": {UNAVAILABLE},
    "public page": PUBLIC,
    "count": UNAVAILABLE,
    "count: within seconds": True,
    "new visitor": UNAVAILABLE,
    "new visitor: within seconds": True,
    "after": (200, b"4"),
}


@pytest.mark.slow
@pytest.mark.upstream  # LONG_OUTAGE pins psycopg_pool's retry schedule
def test_postgres_outage_public_pages_served_503_then_counting_on(tmp_path, services, recipe_server):
    outage = postgres_outage(recipe_server, resilience(tmp_path), services, hold=LONG_OUTAGE)
    assert outage == EXPECTED_POSTGRES_OUTAGE


@pytest.mark.slow
@pytest.mark.parametrize("removed, what_changes", [
    ([LAZY], {"public page": UNAVAILABLE}),
    ([LAZY, HANDLER], {"public page": 500, "count": 500, "new visitor": 500}),
    ([TIMEOUT], {"count": "no answer", "count: within seconds": False}),
], ids=["Session", "Session and web.py's 500", "no timeout"])
def test_postgres_outage_without_each_defence(tmp_path, services, recipe_server, removed, what_changes):
    outage = postgres_outage(recipe_server, resilience(tmp_path, *removed), services)
    assert outage != EXPECTED_POSTGRES_OUTAGE
    for key, answer in what_changes.items():
        assert outage[key] == answer or outage[key][0] == answer, (key, outage[key])


@pytest.mark.slow
@pytest.mark.upstream  # LONG_OUTAGE pins psycopg_pool's retry schedule
def test_postgres_long_outage_without_a_short_reconnect_timeout(tmp_path, services, recipe_server):
    outage = postgres_outage(recipe_server, resilience(tmp_path, RECONNECT), services, hold=LONG_OUTAGE)
    assert outage != EXPECTED_POSTGRES_OUTAGE
    assert outage["after"] == UNAVAILABLE  # back, but the pool waits for its next retry


@pytest.mark.slow
def test_postgres_outage_waiting_requests_hold_the_server_threads(tmp_path, services, recipe_server):
    """Ten /count waiting for the pool take web.py's ten threads: the home page waits behind them."""
    server = recipe_server(resilience(tmp_path, SAYS_IT_STARTED), services.cookbook_database())
    assert seen(Visitor(server), "/count") == (200, b"1")
    public_before, seconds_before = timed(Visitor(server), "/")
    for started in tmp_path.glob("started-*"):
        started.unlink()
    with services.postgres_stopped():
        waiting = [Visitor(server) for _ in range(10)]
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = [pool.submit(seen, visitor, "/count") for visitor in waiting]
            deadline = time.monotonic() + PATIENCE
            while len(list(tmp_path.glob("started-*"))) < 10:  # each on a thread of its own: all ten held
                assert time.monotonic() < deadline, "the ten /count did not all start"
                time.sleep(0.01)
            public, seconds = timed(Visitor(server), "/")
            answers = [answer.result() for answer in answers]
    requests = re.findall(r'"HTTP/1.1 GET (/\S*)" - (\d+)', server.log())
    assert answers == [UNAVAILABLE] * 10
    assert public_before == public == PUBLIC
    assert requests[-11:].index(("/", "200")) > 0, "the home page was answered before any /count"
    assert seconds > 1 and seconds > 4 * seconds_before, (seconds, seconds_before)


def test_a_request_that_overlaps_a_reset_stores_the_session_again(tmp_path, recipe_server):
    """No locking: a /count that loaded the session before /reset deleted it changed it, so LazySession
    saves it, and the session is stored again. LazySession loads on first use: the copy holds after it."""
    held_after_use = Change("nothing: /count waits for the test once it has used the session",
                            "            session.count += 1\n", "            session.count += 1\n            hold()\n",
                            file="counting.py")
    server = recipe_server(recipe_copy("resilience", tmp_path, HELD_COUNT[0], held_after_use))
    assert count_after_an_overlapping_reset(server, tmp_path) == 3
