"""Log in and out, and end a login left idle or open for too long (web.py sessions)."""
import contextlib
import hashlib
import hmac
import os
import re
import sys
import time

import web

from hardened_cookie import use_hardened_session_cookie

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False

urls = (
    "/login", "login",
    "/whoami", "whoami",
    "/logout", "logout",
)


def seconds(name, default):
    text = os.environ.get(name, str(default))
    if not re.fullmatch("[1-9][0-9]*", text):
        sys.exit(f"{name}={text!r}: expected a whole number of seconds, at least 1")
    return int(text)


IDLE_TIMEOUT = seconds("SESSION_IDLE_TIMEOUT", 30 * 60)
ABSOLUTE_TIMEOUT = seconds("SESSION_ABSOLUTE_TIMEOUT", 8 * 60 * 60)
# web.py's cleanup deletes sessions unused for `timeout` seconds: past this, none is valid.
web.config.session_parameters.timeout = ABSOLUTE_TIMEOUT


class FinalDiskStore(web.session.DiskStore):
    """A DiskStore that a request still running at logout cannot give the session back to.

    web.py saves the session after every request, even one deleted since it was loaded. Here
    deleting leaves a mark, <id>.deleted, then removes the file; saving writes the file, then
    removes it if it finds the mark. A save that writes before the mark is removed by the
    deletion; one that writes after finds the mark. web.py's cleanup removes old marks too.
    """

    def _mark(self, key):
        return self._get_path(key) + ".deleted"

    def __contains__(self, key):
        return super().__contains__(key) and not os.path.exists(self._mark(key))

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if os.path.exists(self._mark(key)):
            self._remove(key)

    def __delitem__(self, key):
        open(self._mark(key), "w").close()  # the mark first, then the file
        self._remove(key)

    def _remove(self, key):
        with contextlib.suppress(FileNotFoundError):  # another request may delete it too
            os.remove(self._get_path(key))


class RememberMeSession(web.session.Session):
    def _setcookie(self, session_id, expires="", **kw):
        # web.py 0.76 sends the cookie on every request, without a date unless given one:
        # a "remember me" login gets one each time, the end of its absolute limit.
        if expires == "" and self.get("remember"):
            expires = int(self.login_time + ABSOLUTE_TIMEOUT - time.time())
        super()._setcookie(session_id, expires, **kw)


# The cookie of A hardened session cookie: with web.py's, another host of your
# domain can set its own session's cookie in the visitor's browser, and web.py uses it.
use_hardened_session_cookie()

app = web.application(urls, locals())
session = RememberMeSession(
    app, FinalDiskStore("sessions"), initializer={"username": None}
)


def end_expired_login(handler):
    """Log out a session idle or logged in for too long, and say so on the login page."""
    if session.username:
        now = time.time()
        if now - session.last_seen > IDLE_TIMEOUT or now - session.login_time > ABSOLUTE_TIMEOUT:
            session.kill()
            raise web.seeother("/login?expired=1")
        session.last_seen = now
    return handler()


app.add_processor(end_expired_login)  # added after the Session's: runs with the session loaded


def password_hash(password, salt):
    # scrypt is slow and memory-hungry on purpose: a stolen hash is costly to guess.
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=5)


# The demo account (alice / wonderland, as the login page says): a salt and a hash only.
USERS = {
    "alice": (
        bytes.fromhex("25ea556f8fcff6f8d9e73e54e1837dfb"),
        bytes.fromhex(
            "99fe297d304a28488f8de81bcad21789a0818cd13117528fd974ec15d17cb928"
            "7abf2c109cc732a9ffdeda742088cb13c0e36c8b819141650036a03489c4fa8a"
        ),
    ),
}
# Hashed against for unknown names, so that they take as long as a wrong password.
NOBODY = (os.urandom(16), os.urandom(64))


def credentials_match(username, password):
    """True for a known name and its password; an unknown name costs the same hashing."""
    salt, expected = USERS.get(username, NOBODY)
    # compare_digest does not stop at the first byte that differs.
    return hmac.compare_digest(password_hash(password, salt), expected) and username in USERS


def rotate_session_id():
    """Move the session to a new id: an id planted or read before login is now worthless."""
    old_id = session.session_id
    # web.py 0.76 has no API for this; it saves the session under the new id after the handler.
    session.session_id = session._generate_session_id()
    del session.store[old_id]


LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<title>Log in</title>
<h1>Log in</h1>
<p>{message}</p>
<form method="post" action="/login">
  <label>User name <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <label><input name="remember" type="checkbox"> Remember me</label>
  <button>Log in</button>
</form>
<p>Demo account: alice, password wonderland.</p>
</html>
"""


def login_page(message=""):
    web.header("Content-Type", "text/html; charset=utf-8")
    return LOGIN_PAGE.format(message=message)


def form_fields(*names):
    """The named fields of the posted form as text ("" if missing); 400 for anything else."""
    try:
        form = web.input(_method="post", **dict.fromkeys(names, ""))  # not the query string
    except UnicodeDecodeError:  # web.py 0.76 fails on a body that is not UTF-8
        raise web.badrequest()
    values = [form[name] for name in names]
    if not all(isinstance(value, str) for value in values):  # an uploaded file
        raise web.badrequest()
    return values


class login:
    def GET(self):
        if web.input(expired="").expired:
            return login_page("Your session expired: please log in again.")
        return login_page()

    def POST(self):
        username, password, remember = form_fields("username", "password", "remember")
        if not credentials_match(username, password):
            # One answer for an unknown name and a wrong password; the session is untouched.
            web.ctx.status = "401 Unauthorized"
            return login_page("Wrong user name or password.")
        rotate_session_id()
        session.username = username
        session.login_time = session.last_seen = time.time()
        session.remember = bool(remember)  # a checkbox is sent only when ticked
        raise web.seeother("/whoami")


class whoami:
    def GET(self):
        web.header("Content-Type", "text/plain; charset=utf-8")
        return session.username or "anonymous"


class logout:
    def POST(self):
        session.kill()  # deleted from the store: a copy of the cookie opens nothing, now or later
        raise web.seeother("/login")


if __name__ == "__main__":
    app.run()
