"""Count visits with a session that exists only once used, and is saved only when it changed."""
import copy
import os
import time

import web

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False


class LazySession(web.session.Session):
    """web.py's Session, loaded when a handler first uses it, saved (with the cookie) only if changed."""

    def _processor(self, handler):
        # web.py's own processor loads the session before every request and saves it after.
        try:
            return handler()
        finally:
            before = web.ctx.get("session_before")
            if before is not None:  # the handler used the session
                if not any(name.lower() == "cache-control" for name, _ in web.ctx.headers):  # the handler's wins
                    web.header("Cache-Control", "private")  # this answer is one visitor's
                if dict(self._data) != before:
                    self._save()

    def _use(self):
        if "session_before" not in web.ctx:
            web.ctx.session_before = None  # web.py's _load sets attributes: do not load again
            self._cleanup()
            self._load()
            # A deep copy, so that changes made in place count too.
            web.ctx.session_before = copy.deepcopy(dict(self._data))

    # Every way into the session's data loads it first: attributes, `in` and items.
    def __getattr__(self, name):
        self._use()
        return super().__getattr__(name)

    def __setattr__(self, name, value):
        if name not in web.session.Session.__slots__:
            self._use()
        super().__setattr__(name, value)

    def __delattr__(self, name):
        self._use()
        super().__delattr__(name)

    def __contains__(self, name):
        self._use()
        return super().__contains__(name)

    def __getitem__(self, name):
        self._use()
        return self._data[name]

    def __setitem__(self, name, value):
        self._use()
        self._data[name] = value

    def __delitem__(self, name):
        self._use()
        del self._data[name]


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
session = LazySession(app, TouchedDiskStore("sessions"), initializer={"count": 0})


class public:
    def GET(self):
        web.header("Cache-Control", "public, max-age=300")  # the same page for everyone
        return "Welcome: this page uses no session.\n"


class peek:
    def GET(self):
        return str(session.count)


class count:
    def GET(self):
        session.count += 1
        return str(session.count)


class reset:
    def GET(self):
        session.kill()
        return "Reset"


if __name__ == "__main__":
    app.run()
