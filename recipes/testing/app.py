"""Count visits with a web.py session: the application that test_app.py tests."""
import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages

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


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)
# --8<-- [end:session]


if __name__ == "__main__":
    app.run()
