"""The counter's two pages for a web.py session whose initializer gives `count`: copy this file
beside your app.py, then, after the Session,

    count, reset = counter_pages(session)   # with "/count", "count", "/reset", "reset" in urls
"""


def counter_pages(session):
    """The handler classes of GET /count (one more visit) and POST /reset (a fresh session)."""

    class count:
        def GET(self):
            session.count += 1
            return str(session.count)

    class reset:
        def POST(self):  # it changes the session: no link may do it
            session.kill()
            return "Reset"

    return count, reset
