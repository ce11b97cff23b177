"""The blog: a sub-application that uses the session of the application it is mounted in."""
import web

urls = (
    "/count", "count",
)


class count:
    def GET(self):
        session = web.ctx.session  # put there by the main application's loadhook
        session.count += 1
        return str(session.count)


app = web.application(urls, locals())
