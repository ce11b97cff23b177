"""Flash messages: kept in the session by a POST, shown once by the next GET."""
import os

import web

from cache_control import keep_sessions_out_of_caches
from logins import form_fields  # the body's fields as text, 400 for the rest (login recipe)

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False

urls = (
    "/", "index",
    "/messages", "messages",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
# --8<-- [start:messages]
# A dict initializer is deep-copied: every new session gets a list of its own.
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"messages": []}
)

# Next to this file, not the working directory; .html makes web.py escape $values.
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
render = web.template.render(TEMPLATES)


class index:
    def GET(self):
        # Take the messages out: web.py saves the emptied list after this request.
        pending, session.messages = session.messages, []
        return render.index(pending)


class messages:
    def POST(self):
        (text,) = form_fields("text")
        session.messages.append(text)
        # Show it on a GET: the client is sent to / instead of getting a page.
        raise web.seeother("/")
# --8<-- [end:messages]


if __name__ == "__main__":
    app.run()
