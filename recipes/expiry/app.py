"""Log in and out, and end a login left idle or open for too long (web.py sessions)."""
import os
import re
import sys
import time

import web

from cache_control import keep_sessions_out_of_caches
from csrf_tokens import check_token, csrf_token
from expiry import end_login_if_expired, start_login_clock
from hardened_cookie import no_new_cookie_for_a_post_without_one, use_hardened_session_cookie
from logins import FinalDiskStore, credentials_match, form_fields, rotate_session_id
from logout import logout_handler
from throttle import Throttle

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)

urls = ("/login", "login", "/whoami", "whoami", "/logout", "logout")


def seconds(name, default):
    text = os.environ.get(name, str(default))
    if not re.fullmatch("[1-9][0-9]*", text):
        sys.exit(f"{name}={text!r}: expected a whole number of seconds, at least 1")
    return int(text)


IDLE_TIMEOUT = seconds("SESSION_IDLE_TIMEOUT", 30 * 60)
ABSOLUTE_TIMEOUT = seconds("SESSION_ABSOLUTE_TIMEOUT", 8 * 60 * 60)
# web.py's cleanup deletes sessions unused for `timeout` seconds: past this, none is valid.
web.config.session_parameters.timeout = ABSOLUTE_TIMEOUT


# --8<-- [start:clock]
class RememberMeSession(web.session.Session):
    def _setcookie(self, session_id, expires="", **kw):
        # web.py 0.76 sends the cookie on every request, without a date unless given one:
        # a "remember me" login gets one each time, the end of its absolute limit.
        if expires == "" and self.get("remember"):
            expires = int(self.login_time + ABSOLUTE_TIMEOUT - time.time())
        super()._setcookie(session_id, expires, **kw)


use_hardened_session_cookie()  # why: see the login recipe, "Another host of your domain"

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
session = RememberMeSession(app, FinalDiskStore("sessions"), initializer={"username": None})
app.add_processor(no_new_cookie_for_a_post_without_one(session))  # why: see the cookies recipe


def end_expired_login(handler):
    """Log out a session idle or logged in for too long, and say so on the login page."""
    end_login_if_expired(session, IDLE_TIMEOUT, ABSOLUTE_TIMEOUT)
    return handler()


app.add_processor(end_expired_login)  # added after the Session's: runs with the session loaded
# --8<-- [end:clock]


LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<title>Log in</title>
<h1>Log in</h1>
<p>{message}</p>
<form method="post" action="/login">
  <input type="hidden" name="csrf_token" value="{token}">
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
    return LOGIN_PAGE.format(message=message, token=csrf_token(session))


class login:
    def GET(self):
        if web.input(expired="").expired:
            return login_page("Your session expired: please log in again.")
        return login_page()

    def POST(self):
        username, password, remember, sent = form_fields("username", "password", "remember", "csrf_token")
        check_token(session, sent)  # 403 for another site's post (login recipe)
        attempt = throttle.attempt(username, web.ctx.ip)  # 429 past the limit, before any hashing
        if not credentials_match(username, password):
            # One answer for an unknown name and a wrong password; the session is untouched.
            web.ctx.status = "401 Unauthorized"
            return login_page("Wrong user name or password.")
        throttle.succeeded(attempt)
        # --8<-- [start:login]
        rotate_session_id(session)
        session.username = username
        start_login_clock(session)
        session.remember = bool(remember)  # a checkbox is sent only when ticked
        # --8<-- [end:login]
        raise web.seeother("/whoami")


class whoami:
    def GET(self):
        web.header("Content-Type", "text/plain; charset=utf-8")
        return session.username or "anonymous"


logout = logout_handler(session)  # its form carries the CSRF token (csrf recipe)
throttle = Throttle()  # at most 5 failures per name and 20 per address in 15 minutes


if __name__ == "__main__":
    app.run()
