"""What the resilience page says of PostgreSQL stopped and started again: real outages, waited out.

Each scenario returns what a visitor saw; the recipe must give EXPECTED_POSTGRES_OUTAGE, and a copy
of the recipe with one defence taken out must not (the same scenario, the same comparison, so the
test fails). Every test here stops the throw-away PostgreSQL server for seconds: all `slow`. (The
store's other failures, which take no time: tests/test_resilience.py.)
"""
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.client import Visitor, counted_at_once
from harness.copies import Change, recipe_copy

pytestmark = pytest.mark.slow  # PostgreSQL stopped and started again, outages waited out

PUBLIC = (200, b"Welcome: this page uses no session.\n")
UNAVAILABLE = (503, b"The session store is unavailable, try again later.\n")
PATIENCE = 10  # seconds a visitor waits for an answer

LAZY = Change("the lazy session: web.py's Session, which loads it for every page",
              "session = LazySession(", "session = web.session.Session(")
HANDLER = Change("the 503 for a store that fails: web.py's own 500", "app.internalerror = internal_error\n")
CHECK = Change("the pool's check of each connection it lends", "check=check_connection,")
CHECK_ONE_BY_ONE = Change("the check of every connection once one fails: the pool's own check",
                          "check=check_connection,", "check=ConnectionPool.check_connection,")
RECONNECT = Change("the short reconnect_timeout: psycopg_pool's default", "reconnect_timeout=1,")
TIMEOUT = Change("the pool's 3-second timeout: psycopg_pool's default", "timeout=3,")
#: A copy that says when a /count starts (in the server's directory): the test knows its requests hold threads.
SAYS_IT_STARTED = Change("nothing: each /count says it started, in a file named after its thread",
                         "class count:\n    def GET(self):\n",
                         "class count:\n    def GET(self):\n"
                         '        open(f"started-{threading.get_ident()}", "w").close()\n')

# psycopg_pool retries a failed connection after waiting 1 second (±10%), then 2, 4, 8, 16..., until
# its reconnect_timeout: 1, 3, 7, 15, 31... seconds after the failure. Started again 19 seconds into
# the outage, PostgreSQL is back between two retries (the 4th, by 17.5 seconds, the 5th, after 27.9)
# for longer than the pool's 3-second timeout.
LONG_OUTAGE = 19


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


def postgres_outage(recipe_server, app, services, hold=0):
    """PostgreSQL restarted while nobody visits; then stopped during visits, for `hold` seconds or more.

    Requests at once first make the pool open more connections than its two: a restart kills them all.
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
    "public page": PUBLIC,
    "count": UNAVAILABLE,
    "count: within seconds": True,
    "new visitor": UNAVAILABLE,
    "new visitor: within seconds": True,
    "after": (200, b"4"),
}


@pytest.mark.upstream  # LONG_OUTAGE pins psycopg_pool's retry schedule
def test_postgres_outage_public_pages_served_503_then_counting_on(tmp_path, services, recipe_server):
    outage = postgres_outage(recipe_server, resilience(tmp_path), services, hold=LONG_OUTAGE)
    assert outage == EXPECTED_POSTGRES_OUTAGE


@pytest.mark.parametrize("removed, what_changes", [
    ([LAZY], {"public page": UNAVAILABLE}),
    ([LAZY, HANDLER], {"public page": 500, "count": 500, "new visitor": 500}),
    ([CHECK], {"after a restart": UNAVAILABLE}),
    pytest.param([CHECK_ONE_BY_ONE], {"after a restart": UNAVAILABLE, "after a restart: waited the pool's timeout": True},
                 marks=pytest.mark.upstream, id="pool's own check"),  # psycopg_pool checks one connection at a time
    ([TIMEOUT], {"count": "no answer", "count: within seconds": False}),
], ids=["Session", "Session and web.py's 500", "no check", "pool's own check", "no timeout"])
def test_postgres_outage_without_each_defence(tmp_path, services, recipe_server, removed, what_changes):
    outage = postgres_outage(recipe_server, resilience(tmp_path, *removed), services)
    assert outage != EXPECTED_POSTGRES_OUTAGE
    for key, answer in what_changes.items():
        assert outage[key] == answer or outage[key][0] == answer, (key, outage[key])


@pytest.mark.upstream  # LONG_OUTAGE pins psycopg_pool's retry schedule
def test_postgres_long_outage_without_a_short_reconnect_timeout(tmp_path, services, recipe_server):
    outage = postgres_outage(recipe_server, resilience(tmp_path, RECONNECT), services, hold=LONG_OUTAGE)
    assert outage != EXPECTED_POSTGRES_OUTAGE
    assert outage["after"] == UNAVAILABLE  # back, but the pool waits for its next retry


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
