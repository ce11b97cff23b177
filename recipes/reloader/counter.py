"""The application, in a module that web.py's reloader runs again when it changes."""
import web

from cache_control import keep_sessions_out_of_caches

urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, globals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# --8<-- [start:once]
# A reload runs this file again. Keep the first Session: it is the one attached
# to the application that is serving, and the one that loads each request's data.
if web.config.get("_session") is None:
    web.config._session = web.session.Session(
        app, web.session.DiskStore("sessions"), initializer={"count": 0}
    )
session = web.config._session
# --8<-- [end:once]


class count:
    def GET(self):
        session.count += 1
        return str(session.count)


class reset:
    def POST(self):  # it changes the session: no link may do it
        session.kill()
        return "Reset"
