"""What the complete application's page says beyond its transcripts: each piece at work, and a copy
without it failing the same check; sessions in parallel, overlapping counts, PostgreSQL stopped."""
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from harness.client import Visitor, form_field
from harness.copies import HOLD, Change, Holds, recipe_copy

COOKIE = "__Host-sid"
UNAVAILABLE = (503, "The session store is unavailable, try again later.\n")
NO_LOCK = Change("the lock: a LazySession alone", "class Session(LockedSession, LazySession):",
                 "class Session(LazySession):")
NO_LAZY = Change("the lazy session: loaded for every page", "class Session(LockedSession, LazySession):",
                 "class Session(LockedSession):")
NO_503 = Change("the 503 for a store that fails: web.py's own 500", "answer_503_when_the_store_fails(app, StoreUnavailable)\n")
NO_ROTATION = Change("the new id at login", "        rotate_session_id(session)", "        pass")
NO_COUNT_TOKEN_CHECK = Change("the CSRF check of /account/count", "        check_token(session, sent)\n")
#: A copy whose POST /account/count stops at hold() once the session is loaded, before the count goes up.
HELD_ACCOUNT_COUNT = [Change("nothing: adds the test's hold()", "\nimport web\n", "\nimport web\n" + HOLD),
              Change("nothing: /account/count waits for the test before counting", "        session.count += 1\n",
                     "        hold()\n        session.count += 1\n")]


def together(directory, *removed):
    return recipe_copy("together", directory, *removed)


def logged_in(server):
    """A visitor who logged in as alice, and the token of their account's forms."""
    visitor = Visitor(server, COOKIE)
    token = form_field(visitor.get("/login").text, "csrf_token")
    answer = visitor.post("/login", {"name": "alice", "password": "wonderland", "csrf_token": token})
    assert (answer.status, answer.headers["Location"]) == (303, f"http://127.0.0.1:{server.port}/account")
    return visitor, form_field(visitor.get("/account").text, "csrf_token")


def shown(visitor):
    """What /account answers the visitor: (status, its count line or where it redirects)."""
    answer = visitor.get("/account")
    if answer.status == 200:
        return 200, answer.text.split("<p>")[1].split("</p>")[0]
    return answer.status, answer.headers.get("Location", answer.text)


def test_sessions_in_parallel_count_each_their_own(services, recipe_server, tmp_path):
    server = recipe_server(together(tmp_path), services.cookbook_database())
    visitors = [logged_in(server) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda job: job[0].post("/account/count", {"csrf_token": job[1]}).status,
                                 [visitor for number, visitor in enumerate(visitors) for _ in range(number + 1)]))
    assert statuses == [303] * 10
    assert [shown(visitor) for visitor, _ in visitors] == [(200, f"alice: {n}") for n in range(1, 5)]


def advisory_lock_awaited(env):
    """Whether a request waits for a session's advisory lock in PostgreSQL."""
    with psycopg.connect("dbname=cookbook", host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"]) as check:
        return check.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0] > 0


def count_after_two_overlapping_posts(server, directory, env):
    """Two POST /account/count of one session; the second sent while the first is held, the session
    loaded. The first goes on once the second has loaded the session too, or waits for its lock."""
    visitor, token = logged_in(server)
    holds = Holds(directory, 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(visitor.post, "/account/count", {"csrf_token": token})
        holds.wait(1)
        second = pool.submit(visitor.post, "/account/count", {"csrf_token": token})
        deadline = time.monotonic() + 30
        while not ((directory / "held-2").exists() or advisory_lock_awaited(env)):
            assert time.monotonic() < deadline, "the second request neither loaded the session nor waited"
        holds.release(1)
        holds.wait(2)
        holds.release(2)
        assert (first.result().status, second.result().status) == (303, 303)
    return shown(visitor)


@pytest.mark.parametrize("defence", [True, False], ids=["locked", "no lock"])
def test_overlapping_counts_are_all_counted(defence, services, recipe_server, tmp_path):
    env = services.cookbook_database()
    server = recipe_server(together(tmp_path, *HELD_ACCOUNT_COUNT, *[] if defence else [NO_LOCK]), env)
    assert count_after_two_overlapping_posts(server, tmp_path, env) == (200, "alice: 2" if defence else "alice: 1")


def through_an_outage(server, services):
    """A logged-in visitor counts, PostgreSQL stops: the home page and /account; then it starts again."""
    visitor, token = logged_in(server)
    assert visitor.post("/account/count", {"csrf_token": token}).status == 303
    with services.postgres_stopped():
        home = visitor.get("/")
        down = visitor.get("/account")
        seen = {"home": (home.status, home.text), "account": (down.status, down.text)}
    seen["after"] = shown(visitor)
    visitor.post("/account/count", {"csrf_token": token})
    seen["counted on"] = shown(visitor)
    return seen


EXPECTED_OUTAGE = {"home": (200, "Welcome. Log in at /login.\n"), "account": UNAVAILABLE,
                   "after": (200, "alice: 1"), "counted on": (200, "alice: 2")}


@pytest.mark.parametrize("removed, what_changes", [
    (None, {}),
    (NO_LAZY, {"home": 503}),
    (NO_503, {"account": 500}),
], ids=["recipe", "web.py's loading for every page", "web.py's 500"])
def test_postgres_stopped_then_started(removed, what_changes, services, recipe_server, tmp_path):
    server = recipe_server(together(tmp_path, *[removed] if removed else []), services.cookbook_database())
    seen = through_an_outage(server, services)
    if not removed:
        assert seen == EXPECTED_OUTAGE
    for key, status in what_changes.items():
        assert seen[key][0] == status, (key, seen[key])


@pytest.mark.parametrize("defence", [True, False], ids=["new id", "id kept"])
def test_the_id_from_before_the_login_is_worthless_after_it(defence, services, recipe_server, tmp_path):
    server = recipe_server(together(tmp_path, *[] if defence else [NO_ROTATION]), services.cookbook_database())
    visitor = Visitor(server, COOKIE)
    token = form_field(visitor.get("/login").text, "csrf_token")
    planted = Visitor(server, COOKIE)
    planted.cookie = visitor.cookie  # an id an attacker read or planted before the login
    visitor.post("/login", {"name": "alice", "password": "wonderland", "csrf_token": token})
    assert (visitor.cookie != planted.cookie) == defence
    assert shown(planted) == ((303, f"http://127.0.0.1:{server.port}/login") if defence else (200, "alice: 0"))


@pytest.mark.parametrize("defence", [True, False], ids=["token checked", "not checked"])
def test_a_count_posted_without_the_token_is_refused(defence, services, recipe_server, tmp_path):
    server = recipe_server(together(tmp_path, *[] if defence else [NO_COUNT_TOKEN_CHECK]), services.cookbook_database())
    visitor, _ = logged_in(server)
    forged = [visitor.post("/account/count", form).status for form in [{}, {"csrf_token": "forged"}]]
    assert (forged, shown(visitor)) == (([403, 403], (200, "alice: 0")) if defence else ([303, 303], (200, "alice: 2")))


def test_a_visitor_not_logged_in_takes_the_lock_too(services, recipe_server, tmp_path):
    """The login page uses the session (its CSRF token): with a cookie, it waits for the session's lock
    like any page that uses the session, and answers 503 when another holds it for over five seconds."""
    env = services.cookbook_database()
    server = recipe_server(together(tmp_path), env)
    visitor = Visitor(server, COOKIE)
    assert visitor.get("/login").status == 200
    with psycopg.connect("dbname=cookbook", host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"],
                         autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", [visitor.session_id])
        answer = visitor.get("/login")
    assert (answer.status, answer.text) == (503, "This session is busy, try again later.\n")
