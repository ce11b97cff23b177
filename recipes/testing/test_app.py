"""Tests of app.py's sessions with web.py's test client, app.request(): no server."""
import importlib
import re
import sys

import pytest
import web

SESSION_COOKIE = re.compile(r"webpy_session_id=[0-9a-f]{40}; HttpOnly; Path=/")
# Client addresses, given to app.request() in its WSGI environment, env.
HOME = {"REMOTE_ADDR": "192.0.2.1"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture
def new_app(tmp_path, monkeypatch):
    """Import app.py as a new process would: a new application, Session and store."""
    # app.py makes its DiskStore("sessions") when it is imported, relative to
    # the working directory: move to an empty directory first, then import.
    monkeypatch.chdir(tmp_path)

    def new_app():
        sys.modules.pop("app", None)  # or Python hands back an earlier test's module
        return importlib.import_module("app").app

    return new_app


@pytest.fixture
def app(new_app):
    return new_app()


def session_cookie(response):
    """The response's one Set-Cookie header for the session.

    A response can carry several Set-Cookie headers: response.headers, a dict,
    keeps only one of them; response.header_items has them all.
    """
    [cookie] = [value for name, value in response.header_items
                if name == "Set-Cookie" and value.startswith("webpy_session_id=")]
    return cookie


# --8<-- [start:cookies]
def cookie_of(response):
    """Headers that send the response's session cookie back, as a browser would."""
    return {"Cookie": session_cookie(response).split(";")[0]}


def test_a_first_visit_counts_1_and_sets_the_session_cookie(app):
    response = app.request("/count")
    assert response.data == b"1"
    assert SESSION_COOKIE.fullmatch(session_cookie(response))


def test_the_cookie_carries_the_count_across_requests(app):
    first = app.request("/count")
    assert app.request("/count", headers=cookie_of(first)).data == b"2"
    assert app.request("/count", headers=cookie_of(first)).data == b"3"
    assert app.request("/count").data == b"1", "no cookie, new session"
# --8<-- [end:cookies]


def test_reset_expires_the_cookie_and_forgets_the_count(app):
    first = app.request("/count")
    assert app.request("/count", headers=cookie_of(first)).data == b"2"
    reset = app.request("/reset", method="POST", headers=cookie_of(first))
    assert reset.data == b"Reset"
    assert "expires=" in session_cookie(reset), "the client is told to drop the cookie"
    assert app.request("/count", headers=cookie_of(first)).data == b"1"


def test_the_cookie_alone_carries_the_session_from_any_address(app):
    first = app.request("/count", env=HOME)
    assert app.request("/count", headers=cookie_of(first), env=ELSEWHERE).data == b"2"


def test_with_ignore_change_ip_false_another_address_is_refused(new_app, monkeypatch):
    # Session() copies web.config.session_parameters: change them before the
    # import. web.config is global: monkeypatch restores it after this test.
    monkeypatch.setitem(web.config.session_parameters, "ignore_change_ip", False)
    app = new_app()
    first = app.request("/count", env=HOME)
    elsewhere = app.request("/count", headers=cookie_of(first), env=ELSEWHERE)
    assert (elsewhere.status, elsewhere.data) == ("200 OK", b"Session expired")
    assert app.request("/count", headers=cookie_of(first), env=HOME).data == b"2"
