"""Logging out with a form that carries the CSRF token (csrf_tokens.py, of the csrf recipe):
another site's post cannot log the visitor out. Copy this file into your app, then give the
handler its session: `logout = logout_handler(session)` (the login recipe's app.py does)."""
import web

from csrf_tokens import check_token, csrf_token
from logins import form_fields

LOGOUT_PAGE = """<!DOCTYPE html>
<html lang="en">
<title>Log out</title>
<form method="post" action="/logout">
  <input type="hidden" name="csrf_token" value="{token}">
  <button>Log out</button>
</form>
</html>
"""


def logout_handler(session, then="/login"):
    """The handler of /logout: GET shows the form, POST with its token deletes the session and
    redirects to `then`."""

    # --8<-- [start:logout]
    class logout:
        def GET(self):  # a page that logs nobody out: another site may link to it
            web.header("Content-Type", "text/html; charset=utf-8")
            return LOGOUT_PAGE.format(token=csrf_token(session))

        def POST(self):
            (sent,) = form_fields("csrf_token")
            check_token(session, sent)  # 403 for another site's post: the visitor stays logged in
            session.kill()  # deleted from the store: a copy of the cookie opens nothing, now or later
            raise web.seeother(then)
    # --8<-- [end:logout]

    return logout
