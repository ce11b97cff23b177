"""Count visits in the session store SESSION_STORE names: disk (default), shelf, sqlite or memory."""
import dbm.dumb
import os
import shelve
import sys
import threading

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)

urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe


class ShelfStore(web.session.ShelfStore):
    """web.py's ShelfStore, one thread at a time, synced after each change.

    Unlocked, threads swap visitors' sessions on dbm.dumb. Unsynced, dbm.dumb writes a
    changed value's new size or place to its index file only on sync or close, which a
    server stopped by SIGTERM never reaches: after a restart, a session that grew can
    no longer be read.
    """

    def __init__(self, shelf):
        super().__init__(shelf)
        self.lock = threading.RLock()  # re-entrant: reading a session writes it back

    def __getitem__(self, key):
        with self.lock:
            return super().__getitem__(key)

    def __setitem__(self, key, value):
        with self.lock:
            super().__setitem__(key, value)
            self.shelf.sync()

    def __delitem__(self, key):
        with self.lock:
            super().__delitem__(key)
            self.shelf.sync()

    def cleanup(self, timeout):
        with self.lock:
            super().cleanup(timeout)


class MemoryStore(web.session.MemoryStore):
    """web.py's MemoryStore, without 0.76's KeyError (a 500) on kill() of a session never saved."""

    def __delitem__(self, key):
        self.d_store.pop(key, None)


def open_shelf(name):
    """An open shelf on dbm.dumb: shelve.open() would take the first dbm module this Python's
    build has, and only dbm.dumb has been tried here.

    A process killed while dbm.dumb rewrites its index can leave the index cut in the middle of
    a line, which dbm.dumb refuses to open: put it aside and start without sessions, as dbm.dumb
    itself does with an index the kill left empty.
    """
    try:
        return shelve.Shelf(dbm.dumb.open(name, "c"))
    except (SyntaxError, ValueError) as error:
        os.replace(name + ".dir", name + ".dir.damaged")
        print(f"{name}.dir is damaged ({error}): moved to {name}.dir.damaged, starting without sessions",
              file=sys.stderr)
        return shelve.Shelf(dbm.dumb.open(name, "c"))


def sqlite_store():
    db = web.database("sqlite:///sessions.db")
    db.query("""CREATE TABLE IF NOT EXISTS sessions (
        session_id char(128) UNIQUE NOT NULL,
        atime timestamp NOT NULL default current_timestamp,
        data text
    )""")
    return web.session.DBStore(db, "sessions")


# --8<-- [start:stores]
# Only the chosen store is made, so only its files appear.
STORES = {
    "disk": lambda: web.session.DiskStore("sessions"),
    "shelf": lambda: ShelfStore(open_shelf("sessions.shelf")),
    "sqlite": sqlite_store,
    "memory": MemoryStore,
}
store_name = os.environ.get("SESSION_STORE", "disk")
if store_name not in STORES:
    sys.exit(f"SESSION_STORE={store_name!r}: expected one of {', '.join(STORES)}")
session = web.session.Session(app, STORES[store_name](), initializer={"count": 0})
# --8<-- [end:stores]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
