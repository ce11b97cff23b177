"""A complete application from the cookbook's pieces: log in, count, log out; sessions in PostgreSQL."""
import os
import sys

import web

from cache_control import keep_sessions_out_of_caches
from csrf_tokens import check_token, csrf_token
from expiry import end_login_if_expired, start_login_clock
from hardened_cookie import use_hardened_session_cookie
from lazy_session import LazySession
from locked_session import LockedSession
from locking_pgstore import LockingPostgresStore
from logins import credentials_match, form_fields, rotate_session_id
from logout import logout_handler
from sessions_table import prepare_sessions_table
from store_unavailable import StoreUnavailable, answer_503_when_the_store_fails
from throttle import Throttle

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)
IDLE_TIMEOUT, ABSOLUTE_TIMEOUT = 30 * 60, 8 * 60 * 60  # seconds (see the expiry recipe)
web.config.session_parameters.timeout = ABSOLUTE_TIMEOUT  # web.py's cleanup: no login is valid past it
use_hardened_session_cookie()

urls = ("/", "home", "/login", "login", "/account", "account", "/account/count", "count", "/logout", "logout")
app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
answer_503_when_the_store_fails(app, StoreUnavailable)

database_url = os.environ.get("DATABASE_URL", "")  # unset or without a host: libpq's PG* variables
problem = prepare_sessions_table(database_url)
if problem:
    sys.exit(problem)


# --8<-- [start:session]
class Session(LockedSession, LazySession):
    """Loaded when a handler first uses it, and from then on locked until the request is over."""


session = Session(app, LockingPostgresStore(database_url), initializer={"username": None, "count": 0})
throttle = Throttle()
logout = logout_handler(session, then="/")
# --8<-- [end:session]

PAGE = '<!DOCTYPE html>\n<html lang="en">\n<title>{title}</title>\n{body}\n</html>\n'
FORM = '<form method="post" action="{action}">{fields}<input type="hidden" name="csrf_token" value="{token}">' \
       '<button>{button}</button></form>'
LOGIN_FIELDS = '<input name="name" autocomplete="username"><input name="password" type="password">'


def html(title, body):
    web.header("Content-Type", "text/html; charset=utf-8")
    return PAGE.format(title=title, body=body)


def login_form(message=""):
    form = FORM.format(action="/login", fields=LOGIN_FIELDS, token=csrf_token(session), button="Log in")
    return html("Log in", f"<p>{message}</p>\n{form}")


def logged_in_user():
    """The user's name; a login idle or open too long ended, and 303 to /login without one."""
    end_login_if_expired(session, IDLE_TIMEOUT, ABSOLUTE_TIMEOUT)
    if not session.username:
        raise web.seeother("/login")
    return session.username


class home:
    def GET(self):  # no session: served while the store is down, and sets no cookie
        return "Welcome. Log in at /login.\n"


class login:
    def GET(self):
        return login_form("Your session expired." if web.input(expired="").expired else "")

    # --8<-- [start:login]
    def POST(self):
        name, password, sent = form_fields("name", "password", "csrf_token")
        check_token(session, sent)  # 403 for another site's form
        attempt = throttle.attempt(name, web.ctx.ip)  # 429 past the limit
        if not credentials_match(name, password):
            web.ctx.status = "401 Unauthorized"
            return login_form("Wrong user name or password.")
        throttle.succeeded(attempt)
        rotate_session_id(session)  # a new id: one planted or seen before the login is worthless
        session.username, session.count = name, 0
        start_login_clock(session)
        raise web.seeother("/account")
    # --8<-- [end:login]


class account:
    def GET(self):
        name = web.websafe(logged_in_user())
        forms = "".join(FORM.format(action=action, fields="", token=csrf_token(session), button=button)
                        for action, button in [("/account/count", "Count"), ("/logout", "Log out")])
        return html("Account", f"<p>{name}: {session.count}</p>\n{forms}")


class count:
    def POST(self):
        (sent,) = form_fields("csrf_token")
        check_token(session, sent)
        logged_in_user()
        session.count += 1
        raise web.seeother("/account")


if __name__ == "__main__":
    app.run()
