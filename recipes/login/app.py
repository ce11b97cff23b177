"""Log in and out with a web.py session, giving the session a new id at login (logins.py)."""
import web

from cache_control import keep_sessions_out_of_caches
from csrf_tokens import check_token, csrf_token
from hardened_cookie import no_new_cookie_for_a_post_without_one, use_hardened_session_cookie
from logins import FinalDiskStore, credentials_match, form_fields, rotate_session_id
from logout import logout_handler
from throttle import Throttle

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False

urls = (
    "/login", "login",
    "/whoami", "whoami",
    "/logout", "logout",
)

# The cookie of A hardened session cookie: with web.py's, another host of your
# domain can set its own session's cookie in the visitor's browser, and web.py uses it.
use_hardened_session_cookie()

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
session = web.session.Session(
    app, FinalDiskStore("sessions"), initializer={"username": None}
)
app.add_processor(no_new_cookie_for_a_post_without_one(session))  # why: see the cookies recipe

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<title>Log in</title>
<h1>Log in</h1>
<p>{message}</p>
<form method="post" action="/login">
  <input type="hidden" name="csrf_token" value="{token}">
  <label>User name <input name="username" autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button>Log in</button>
</form>
<p>Demo account: alice, password wonderland.</p>
</html>
"""


def login_page(message=""):
    web.header("Content-Type", "text/html; charset=utf-8")
    return LOGIN_PAGE.format(message=message, token=csrf_token(session))


# --8<-- [start:login]
class login:
    def GET(self):
        return login_page()

    def POST(self):
        username, password, sent = form_fields("username", "password", "csrf_token")
        check_token(session, sent)  # 403 for another site's post, which logs the visitor into its own account
        attempt = throttle.attempt(username, web.ctx.ip)  # 429 past the limit, before any hashing
        if not credentials_match(username, password):
            # One answer for an unknown name and a wrong password; the session is untouched.
            web.ctx.status = "401 Unauthorized"
            return login_page("Wrong user name or password.")
        throttle.succeeded(attempt)
        rotate_session_id(session)
        session.username = username
        raise web.seeother("/whoami")
# --8<-- [end:login]


class whoami:
    def GET(self):
        web.header("Content-Type", "text/plain; charset=utf-8")
        return session.username or "anonymous"


logout = logout_handler(session)  # its form carries the CSRF token (csrf recipe)
throttle = Throttle()  # at most 5 failures per name and 20 per address in 15 minutes


if __name__ == "__main__":
    app.run()
