"""The benchmark's reference app: GET /count on web.py's own stores, or on no session at all.

BENCH_STORE picks: none, memory, disk, shelf, sqlite (DBStore), postgres (DBStore on DATABASE_URL).
"""
import os
import shelve

import web

web.config.debug = False


class count:
    def GET(self):
        if session is None:
            return "1"
        session.count += 1
        return str(session.count)


class reset:
    def GET(self):
        session.kill()
        return "Reset"


def dbstore(url):
    db = web.database(url)
    db.query("""CREATE TABLE IF NOT EXISTS sessions (
        session_id char(128) UNIQUE NOT NULL,
        atime timestamp NOT NULL default current_timestamp,
        data text)""")
    return web.session.DBStore(db, "sessions")


STORES = {
    "none": lambda: None,
    "memory": web.session.MemoryStore,
    "disk": lambda: web.session.DiskStore("sessions"),
    "shelf": lambda: web.session.ShelfStore(shelve.open("sessions.shelf")),
    "sqlite": lambda: dbstore("sqlite:///sessions.db"),
    "postgres": lambda: dbstore(os.environ["DATABASE_URL"]),
}

app = web.application(("/count", "count", "/reset", "reset"), globals())
store = STORES[os.environ.get("BENCH_STORE", "none")]()
session = None if store is None else web.session.Session(app, store, initializer={"count": 0})

if __name__ == "__main__":
    app.run()
