"""What the expiry page says beyond its transcripts (its login side is tested in test_login.py).

Each defence is removed in a copy of the recipe, and what it prevents then happens. The recipe is
imported and driven with ``app.request()``, on a clock the test moves on instead of waiting.
"""
import sys
import types
from email.utils import parsedate_to_datetime

import pytest
import web

from harness.catalogue import DEMO_ACCOUNT
from harness.client import form_field
from harness.copies import Change, recipe_copy
from harness.in_process import Clock, cookie_header, import_recipe, post_form

CHECK = Change("the expiry check", "app.add_processor(end_expired_login)")


@pytest.fixture
def expiry(tmp_path, monkeypatch):
    """expiry(*changes, **environment) -> the expiry recipe (a copy with `changes`) imported, its
    sessions in tmp_path."""
    monkeypatch.chdir(tmp_path)  # DiskStore("sessions") is relative to the working directory

    def expiry(*changes, **environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return import_recipe("expiry", recipe_copy("expiry", tmp_path / "recipe", *changes) if changes else None)

    return expiry


def log_in(recipe, **fields):
    response = post_form(recipe.app, "/login", dict(DEMO_ACCOUNT, **fields))
    assert response.status.startswith("303") and response.headers["Location"].endswith("/whoami"), response.status
    return cookie_header(response)


LIMITS = {
    # limit: (environment, seconds that pass before each request after logging in)
    "idle": ({"SESSION_IDLE_TIMEOUT": "1"}, [1.5]),
    "absolute": ({"SESSION_ABSOLUTE_TIMEOUT": "2"}, [1, 1.5]),  # busy, yet logged in too long
}


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("defence", [True, False], ids=["expiry check", "no expiry check"])
def test_a_login_past_its_limit_is_deleted_and_sent_to_the_login_page(limit, defence, expiry, tmp_path, monkeypatch):
    environment, waits = LIMITS[limit]
    recipe = expiry(*([] if defence else [CHECK]), **environment)
    # The recipe's own clock only: web.py's cleanup keeps the real one, and deletes nothing meanwhile.
    now = [recipe.time.time()]
    clock = types.SimpleNamespace(time=lambda: now[0])
    monkeypatch.setattr(recipe, "time", clock)
    monkeypatch.setattr(sys.modules[recipe.end_login_if_expired.__module__], "time", clock)  # expiry.py's
    store = web.session.DiskStore(str(tmp_path / "sessions"))
    cookie = log_in(recipe)
    answers = []
    for seconds in waits:
        now[0] += seconds
        answers.append(recipe.app.request("/whoami", headers=cookie))
    then = recipe.app.request("/whoami", headers=cookie).data
    *before, last = answers
    assert [answer.data for answer in before] == [b"alice"] * len(before)
    if defence:
        assert last.status.startswith("303") and last.headers["Location"].endswith("/login?expired=1")
        assert cookie["Cookie"].split("=")[1] not in store
        assert then == b"anonymous"
    else:
        assert (last.status, last.data, then) == ("200 OK", b"alice", b"alice")


def cookie_date(response):
    """The expires date of the response's Set-Cookie as a timestamp, or None for a browser-session cookie."""
    header = dict(response.header_items)["Set-Cookie"]
    attributes = dict(part.strip().partition("=")[::2] for part in header.split(";"))
    return parsedate_to_datetime(attributes["expires"]).timestamp() if "expires" in attributes else None


@pytest.mark.parametrize("defence", [True, False], ids=["date on every cookie", "web.py's Session"])
def test_a_remembered_cookie_keeps_its_date_on_every_request(defence, expiry, monkeypatch):
    web_py_session = Change("RememberMeSession", "session = RememberMeSession(", "session = web.session.Session(")
    recipe = expiry(*([] if defence else [web_py_session]), SESSION_ABSOLUTE_TIMEOUT="3600")
    # The whole process's clock: web.py dates the cookie with it too.
    clock = Clock(monkeypatch)
    plain = post_form(recipe.app, "/login", DEMO_ACCOUNT)
    logged_in_at = clock.now()
    at_login = post_form(recipe.app, "/login", dict(DEMO_ACCOUNT, remember="on"))
    clock.advance(600)  # ten minutes later
    later = recipe.app.request("/whoami", headers=cookie_header(at_login))
    assert cookie_date(plain) is None
    if defence:
        assert at_login.status.startswith("303") and abs(cookie_date(at_login) - (logged_in_at + 3600)) <= 2
        assert abs(cookie_date(later) - cookie_date(at_login)) <= 1  # the end of the absolute limit
    else:
        assert cookie_date(later) is None  # web.py's next cookie makes it a browser-session one again


def test_the_cleanup_deletes_abandoned_sessions_and_marks_one_to_two_limits_after_last_use(expiry, tmp_path,
                                                                                           monkeypatch):
    """web.py cleans up in a request: the first of the process, then at most once per `timeout`.

    It deletes files by their age, on the file system's clock: the test's clock starts a third of
    a limit in the past, and files are written when it shows the real time.
    """
    limit = 3600
    recipe = expiry(SESSION_ABSOLUTE_TIMEOUT=str(limit))
    clock = Clock(monkeypatch, offset=-limit / 3)
    sessions = tmp_path / "sessions"

    def visit_at(offset):
        """Move the clock `offset` seconds from the real time, then visit without a cookie."""
        clock.advance(offset - clock.offset)
        recipe.app.request("/whoami")

    visit_at(-limit / 3)  # the process's first request: a cleanup
    clock.advance(limit / 3)  # the real time, a third of a limit later: visits that leave files behind
    abandoned = cookie_header(recipe.app.request("/whoami"))["Cookie"].split("=")[1]  # anonymous
    logged_out = log_in(recipe)
    token = form_field(recipe.app.request("/logout", headers=logged_out).data.decode(), "csrf_token")
    assert recipe.app.request("/logout", method="POST", data={"csrf_token": token}, headers=logged_out).status.startswith(
        "303")
    mark = sessions / (logged_out["Cookie"].split("=")[1] + ".deleted")

    def there():
        return (sessions / abandoned).exists(), mark.exists()

    kept = [there()]
    visit_at(0.8 * limit)  # a cleanup (a limit after the first): both are younger than the limit
    kept.append(there())
    visit_at(1.3 * limit)  # past the limit, before the next cleanup
    kept.append(there())
    visit_at(1.9 * limit)  # the next cleanup: under two limits after the last use
    assert kept == [(True, True)] * 3
    assert there() == (False, False)
