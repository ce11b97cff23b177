"""A web.py session whose requests run one at a time: copy this file into your app. Its store
needs a lock(session_id) context manager (the locking recipe's app.py has one per store)."""
import contextlib
import re
import time

import web

LOCK_TIMEOUT = 5  # seconds a request waits for its session before it answers 503


def busy():
    return web.HTTPError("503 Service Unavailable", data="This session is busy, try again later.\n")


# --8<-- [start:session]
class LockedSession(web.session.Session):
    """A session that takes the store's lock as it loads and releases it once the request is over, after
    the save. (A subclass of another Session class, as LockedSession first, works the same.)"""

    def _processor(self, handler):
        with contextlib.ExitStack() as locks:  # what _load takes, released on the way out
            web.ctx.session_locks = locks
            return super()._processor(handler)

    def _load(self):
        # Lower-cased: web.py takes capitals too, and on a file system that ignores case
        # an upper-case copy of an id reaches the same DiskStore file: it must take the same lock.
        session_id = web.cookies().get(self._config.cookie_name, "").lower()
        if re.fullmatch("[0-9a-f]{40}", session_id):  # not 40 hex digits, as web.py makes: no one else's
            web.ctx.session_locks.enter_context(self.store.lock(session_id))
        super()._load()
# --8<-- [end:session]


def wait_for(try_lock):
    """Call try_lock() until it is true, for LOCK_TIMEOUT seconds at most."""
    deadline = time.monotonic() + LOCK_TIMEOUT
    while not try_lock():
        if time.monotonic() > deadline:
            raise busy()
        time.sleep(0.002)
