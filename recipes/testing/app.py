"""Count visits with a web.py session: the application that test_app.py tests."""
import web

from cache_control import keep_sessions_out_of_caches

# Debug mode's reloader would import this module a second time and break the session.
web.config.debug = False

urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# --8<-- [start:session]
# One file per session in ./sessions, next to wherever the app is started.
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"count": 0}
)


class count:
    def GET(self):
        session.count += 1
        return str(session.count)


class reset:
    def POST(self):  # it changes the session: no link may do it
        session.kill()
        return "Reset"
# --8<-- [end:session]


if __name__ == "__main__":
    app.run()
