"""Greet the visitor by the name kept in their session, through an HTML template."""
import os

import web

from cache_control import keep_sessions_out_of_caches

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False

urls = (
    "/", "index",
    "/name", "name",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
# --8<-- [start:template]
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"name": "", "count": 0}
)

# Next to this file, not the working directory. The .html extension makes
# web.py escape every $value; `globals` lets every template read the session.
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
render = web.template.render(TEMPLATES, globals={"session": session})


class index:
    def GET(self):
        session.count += 1
        return render.index()


class name:
    def POST(self):
        session.name = web.input(name="").name.strip()
        raise web.seeother("/")
# --8<-- [end:template]


if __name__ == "__main__":
    app.run()
