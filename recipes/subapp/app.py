"""One session shared by the main application and the blog mounted at /blog."""
import web

from cache_control import keep_sessions_out_of_caches

# Debug mode's reloader re-imports this module, which breaks sessions (see the
# count recipe). Each application decides on it when it is made: turn it off
# before the blog's is made too, or the blog would reload itself in production.
web.config.debug = False

import blog  # a module of this folder: python puts the script's folder on sys.path

urls = (
    "/count", "count",
    "/blog", blog.app,
)

# --8<-- [start:share]
app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"count": 0}
)


def share_session():
    """Hand the loaded session to sub-applications, which do not import this module."""
    web.ctx.session = session


app.add_processor(web.loadhook(share_session))
# --8<-- [end:share]


class count:
    def GET(self):
        session.count += 1
        return str(session.count)


if __name__ == "__main__":
    app.run()
