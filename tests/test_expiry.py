"""What the expiry page says beyond its transcripts (its login side is tested in test_login.py).

Each defence is removed in a copy of the recipe, and what it prevents then happens.
"""
import time
from email.utils import parsedate_to_datetime

import pytest
import web

from test_login import log_in, request, running, session_cookie

CHECK = "app.add_processor(end_expired_login)  # added after the Session's: runs with the session loaded\n"
LIMITS = {
    # limit: (environment, seconds to wait before each request after logging in)
    "idle": ({"SESSION_IDLE_TIMEOUT": "1"}, [1.5]),
    "absolute": ({"SESSION_ABSOLUTE_TIMEOUT": "2"}, [1, 1.5]),  # busy, yet logged in too long
}


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("defence", [True, False], ids=["expiry check", "no expiry check"])
def test_a_login_past_its_limit_is_deleted_and_sent_to_the_login_page(limit, defence, tmp_path):
    env, waits = LIMITS[limit]
    server = running("expiry", tmp_path, defence, old=CHECK, env=env)
    store = web.session.DiskStore(str(tmp_path / "sessions"))
    try:
        cookie = log_in(server)
        answers = []
        for wait in waits:
            time.sleep(wait)
            answers.append(request(server, "GET", "/whoami", cookie))
        then = request(server, "GET", "/whoami", cookie)[2]
    finally:
        server.stop()
    *before, (status, headers, body) = answers
    assert [body for _, _, body in before] == ["alice"] * len(before)
    if defence:
        assert status == 303 and headers["Location"].endswith("/login?expired=1")
        assert cookie.split("=")[1] not in store
        assert then == "anonymous"
    else:
        assert (status, body, then) == (200, "alice", "alice")


def cookie_date(headers):
    """The expires date of a Set-Cookie as a timestamp, or None for a browser-session cookie."""
    attributes = dict(part.strip().partition("=")[::2] for part in headers["Set-Cookie"].split(";"))
    return parsedate_to_datetime(attributes["expires"]).timestamp() if "expires" in attributes else None


@pytest.mark.parametrize("defence", [True, False], ids=["date on every cookie", "web.py's Session"])
def test_a_remembered_cookie_keeps_its_date_on_every_request(defence, tmp_path):
    server = running("expiry", tmp_path, defence, old="session = RememberMeSession(",
                     new="session = web.session.Session(", env={"SESSION_ABSOLUTE_TIMEOUT": "3600"})
    try:
        plain = request(server, "POST", "/login", form={"username": "alice", "password": "wonderland"})[1]
        logged_in_at = time.time()
        status, at_login, _ = request(server, "POST", "/login",
                                      form={"username": "alice", "password": "wonderland", "remember": "on"})
        time.sleep(1)
        later = request(server, "GET", "/whoami", session_cookie(at_login))[1]
    finally:
        server.stop()
    assert cookie_date(plain) is None
    if defence:
        assert status == 303 and abs(cookie_date(at_login) - (logged_in_at + 3600)) <= 2
        assert abs(cookie_date(later) - cookie_date(at_login)) <= 1  # the end of the absolute limit
    else:
        assert cookie_date(later) is None  # web.py's next cookie makes it a browser-session one again



def test_the_cleanup_deletes_abandoned_sessions_and_marks_one_to_two_limits_after_last_use(tmp_path):
    """web.py cleans up in a request: the first of the process, then at most once per `timeout`."""
    limit = 3
    server = running("expiry", tmp_path, env={"SESSION_ABSOLUTE_TIMEOUT": str(limit)})
    sessions = tmp_path / "sessions"
    try:
        start = time.monotonic()
        request(server, "GET", "/whoami")  # the process's first request: a cleanup

        def at(seconds):
            """Sleep until `seconds` after the first request, then visit without a cookie."""
            time.sleep(max(0, start + seconds - time.monotonic()))
            request(server, "GET", "/whoami")
            return time.monotonic() - start

        time.sleep(1)
        abandoned = session_cookie(request(server, "GET", "/whoami")[1]).split("=")[1]  # anonymous
        logged_out = log_in(server)
        request(server, "POST", "/logout", logged_out)
        mark = sessions / (logged_out.split("=")[1] + ".deleted")
        last_use = time.monotonic() - start
        there = lambda: ((sessions / abandoned).exists(), mark.exists())  # noqa: E731
        kept = [there()]
        at(limit + 0.5)  # a cleanup: both are younger than the limit
        kept.append(there())
        past_limit = at(last_use + limit + 0.3)  # past the limit, before the next cleanup
        kept.append(there())
        second_cleanup = at(2 * limit + 0.8)  # the next cleanup
        gone = there() == (False, False)
    finally:
        server.stop()
    assert 1 <= last_use < limit - 0.5 and past_limit < 2 * limit + 0.5, (last_use, past_limit)
    assert kept == [(True, True)] * 3
    assert gone and second_cleanup - last_use < 2 * limit
