"""A form protected from cross-site request forgery by a token kept in the session."""
import html

import web

from cache_control import keep_sessions_out_of_caches
from csrf_tokens import check_token, csrf_token
from hardened_cookie import no_new_cookie_for_a_post_without_one, use_hardened_session_cookie
from logins import form_fields  # the body's fields as text, 400 for the rest (login recipe)

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False

urls = ("/form", "form")

# The cookie of A hardened session cookie: with web.py's, another host of your
# domain can set its own session's cookie in the visitor's browser, and web.py uses it.
use_hardened_session_cookie()

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"message": ""}
)

# After the Session: a post from another site must not get a new session's cookie (cookies recipe).
app.add_processor(no_new_cookie_for_a_post_without_one(session))


FORM_PAGE = """<!DOCTYPE html>
<html lang="en">
<title>Message</title>
<h1>Message</h1>
<p>Your message: {message}</p>
<form method="post" action="/form">
  <input type="hidden" name="csrf_token" value="{token}">
  <label>New message <input name="message"></label>
  <button>Save</button>
</form>
</html>
"""


# --8<-- [start:form]
class form:
    def GET(self):
        web.header("Content-Type", "text/html; charset=utf-8")
        # Escaped: the message is text, never markup of the page.
        return FORM_PAGE.format(message=html.escape(session.message), token=csrf_token(session))

    def POST(self):
        sent, message = form_fields("csrf_token", "message")
        check_token(session, sent)  # 403 for a post from another site: nothing changes
        session.message = message
        raise web.seeother("/form")
# --8<-- [end:form]


if __name__ == "__main__":
    app.run()
