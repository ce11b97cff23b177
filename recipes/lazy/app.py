"""Count visits with a session that exists only once used, and is saved only when it changed (lazy_session.py)."""
import os
import time

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from lazy_session import LazySession

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False


class TouchedDiskStore(web.session.DiskStore):
    """DiskStore, whose cleanup deletes files by access time, with each read counted as an access."""

    def __getitem__(self, key):
        session = super().__getitem__(key)
        path = self._get_path(key)
        # Unchanged sessions are not rewritten, and relatime or noatime mounts do not
        # update the access time of every read: set it, and leave the file as it is.
        try:
            os.utime(path, ns=(time.time_ns(), os.stat(path).st_mtime_ns))
        except OSError:  # a read-only disk: a read is not a save, so lose the touch as DiskStore loses a write
            pass
        return session


urls = (
    "/", "public",
    "/peek", "peek",
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
session = LazySession(app, TouchedDiskStore("sessions"), initializer={"count": 0})


class public:
    def GET(self):
        web.header("Cache-Control", "public, max-age=300")  # the same page for everyone
        return "Welcome: this page uses no session.\n"


class peek:
    def GET(self):
        return str(session.count)


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
