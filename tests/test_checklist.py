"""What web.py 0.76 does by itself, row by row of the security checklist page."""
import base64
import datetime
import email.utils
import pickle
import re

import pytest
import web

from harness.in_process import Clock

ID = re.compile(r"webpy_session_id=([0-9a-f]+);")


@pytest.fixture
def app(tmp_path):
    """A stock web.py application with a DiskStore session: GET /count, POST /message, GET /logout."""
    class count:
        def GET(self):
            session.count += 1
            return str(session.count)

    class message:
        def POST(self):
            session.message = web.input(text="").text
            return "saved"

    class logout:
        def GET(self):
            session.kill()
            return "bye"

    application = web.application(("/count", "count", "/message", "message", "/logout", "logout"),
                                  locals(), autoreload=False)
    store = web.session.DiskStore(str(tmp_path / "sessions"))
    session = web.session.Session(application, store, initializer={"count": 0})
    application.store = store
    return application


def session_id(response):
    return ID.search(dict(response.header_items)["Set-Cookie"]).group(1)


def visit(app, path, session=None, **kwargs):
    headers = {"Cookie": f"webpy_session_id={session}"} if session else {}
    return app.request(path, headers=headers, **kwargs)


def test_ids_are_40_hex_characters_and_never_repeat(app):
    ids = {session_id(visit(app, "/count")) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(one) == 40 for one in ids)


def test_the_id_of_a_session_never_changes(app):
    first = session_id(visit(app, "/count"))
    assert {session_id(visit(app, "/count", first)) for _ in range(20)} == {first}


def test_a_session_in_use_never_ends(app, monkeypatch, tmp_path):
    """Three times the timeout, used every half of it: web.py's cleanups run, and keep it."""
    monkeypatch.setitem(web.config.session_parameters, "timeout", 60)
    clock = Clock(monkeypatch)
    first = session_id(visit(app, "/count"))
    for _ in range(6):
        clock.stamp(tmp_path / "sessions" / first)  # saved by the last visit: written now, on the clock
        clock.advance(30)
        response = visit(app, "/count", first)
    assert session_id(response) == first and response.data == b"7"


def test_the_cookie_is_httponly_on_the_home_path_and_nothing_else(app):
    response = visit(app, "/count")
    assert dict(response.header_items)["Set-Cookie"] == f"webpy_session_id={session_id(response)}; HttpOnly; Path=/"


def test_kill_deletes_the_session_from_the_store(app):
    first = session_id(visit(app, "/count"))
    assert first in app.store
    visit(app, "/logout", first)
    assert first not in app.store


def test_kill_answers_with_an_expired_cookie_and_no_clear_site_data(app):
    """The client is told to drop the cookie, and nothing else: its cache and storage are left as they are."""
    first = session_id(visit(app, "/count"))
    headers = visit(app, "/logout", first).header_items
    cookies = [value for name, value in headers if name == "Set-Cookie"]
    assert len(cookies) == 1, cookies
    expires = re.search(r"expires=([^;]+)", cookies[0]).group(1)
    assert email.utils.parsedate_to_datetime(expires) < datetime.datetime.now(datetime.timezone.utc), cookies
    assert "Clear-Site-Data" not in [name for name, _ in headers]


def test_an_unknown_id_gets_a_new_session(app):
    assert session_id(visit(app, "/count", "ab" * 20)) != "ab" * 20


def test_the_store_holds_a_pickle(app, tmp_path):
    first = session_id(visit(app, "/count"))
    stored = (tmp_path / "sessions" / first).read_bytes()
    assert pickle.loads(base64.decodebytes(stored))["count"] == 1


def test_a_post_from_anywhere_is_accepted(app):
    first = session_id(visit(app, "/count"))
    response = visit(app, "/message", first, method="POST", data="text=from+another+site",
                     env={"HTTP_ORIGIN": "http://elsewhere.example", "HTTP_REFERER": "http://elsewhere.example/"})
    assert response.data == b"saved"


def test_every_answer_sets_the_cookie_and_says_nothing_of_caching_or_https(app):
    """A page the application does not have included: Set-Cookie, and no Cache-Control nor HSTS."""
    for path in ("/count", "/nowhere"):
        headers = [name for name, _ in visit(app, path).header_items]
        assert "Set-Cookie" in headers, path
        assert "Cache-Control" not in headers and "Strict-Transport-Security" not in headers, path


def test_of_two_cookies_with_the_session_name_the_last_is_used(app):
    """Two cookies of one name (another host's for the domain, and the visitor's): web.py takes the last."""
    first, second = (session_id(visit(app, "/count")) for _ in range(2))
    visit(app, "/count", second)
    answer = app.request("/count", headers={"Cookie": f"webpy_session_id={first}; webpy_session_id={second}"})
    assert (session_id(answer), answer.data) == (second, b"3")


def test_a_client_creates_as_many_sessions_as_requests(app, tmp_path):
    for _ in range(100):
        visit(app, "/count")
    assert len(list((tmp_path / "sessions").iterdir())) == 100
