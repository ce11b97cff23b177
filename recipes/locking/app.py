"""Count visits with no lost update: the requests of one session run one at a time.

SESSION_STORE picks the store and its lock: disk (default, a file lock), postgres (DBStore
on DATABASE_URL, an advisory lock) or redis (REDIS_URL, a lock key with an expiry).
"""
import contextlib
import fcntl
import json
import os
import re
import sys
import time

import psycopg2.errors
import redis
import web

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)

LOCK_TIMEOUT = 5  # seconds a request waits for its session before it answers 503


def busy():
    return web.HTTPError("503 Service Unavailable", data="This session is busy, try again later.\n")


class LockedSession(web.session.Session):
    """A session whose requests take the store's lock before loading it and release it after saving."""

    def _processor(self, handler):
        # Lower-cased: web.py takes capitals too, and on a file system that ignores case
        # an upper-case copy of an id reaches the same DiskStore file: it must take the same lock.
        session_id = web.cookies().get(self._config.cookie_name, "").lower()
        if not re.fullmatch("[0-9a-f]{40}", session_id):
            return super()._processor(handler)  # not 40 hex digits, as web.py makes: no one else's session
        with self.store.lock(session_id):
            return super()._processor(handler)


def wait_for(try_lock):
    """Call try_lock() until it is true, for LOCK_TIMEOUT seconds at most."""
    deadline = time.monotonic() + LOCK_TIMEOUT
    while not try_lock():
        if time.monotonic() > deadline:
            raise busy()
        time.sleep(0.002)


class DiskStore(web.session.DiskStore):
    """web.py's DiskStore with flock(): 256 lock files, chosen by the first two digits of the id."""

    def __init__(self, root):
        super().__init__(root)
        os.makedirs(root + ".locks", exist_ok=True)  # beside root: DiskStore's cleanup empties root

    @contextlib.contextmanager
    def lock(self, session_id):
        try:
            lock_file = open(os.path.join(self.root + ".locks", session_id[:2]), "a")
        except OSError:  # a read-only disk: no lock to take, so a 503 as for a busy session, not a 500
            raise web.HTTPError("503 Service Unavailable",
                                data="The session store is unavailable, try again later.\n") from None
        with lock_file:
            wait_for(lambda: try_flock(lock_file))
            yield  # closing the file releases the lock, even if the process dies


def try_flock(lock_file):
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class PostgresStore(web.session.DBStore):
    """web.py's DBStore with an advisory lock, held by this thread's connection for the request."""

    @contextlib.contextmanager
    def lock(self, session_id):
        try:  # one round trip: the wait's limit, then the wait
            self.db.query(f"SET lock_timeout = '{LOCK_TIMEOUT}s'; SELECT pg_advisory_lock(hashtext($id))",
                          vars={"id": session_id})
        except psycopg2.errors.LockNotAvailable:
            raise busy() from None
        try:
            yield
        finally:
            self.db.query("SELECT pg_advisory_unlock(hashtext($id))", vars={"id": session_id})


class RedisStore(web.session.Store):
    """Sessions as JSON under session:<id>, expired by Redis; the lock is the key lock:<id>."""

    RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

    def __init__(self, client, timeout):
        self.client, self.timeout = client, timeout

    @contextlib.contextmanager
    def lock(self, session_id):
        key, token = f"lock:{session_id}", os.urandom(16).hex()
        # NX: only if no one holds it; PX: a holder that dies frees it after 30 s.
        wait_for(lambda: self.client.set(key, token, nx=True, px=30_000))
        try:
            yield
        finally:  # delete the key only if it is still ours (it may have expired and been taken)
            self.client.eval(self.RELEASE, 1, key, token)

    def __contains__(self, key):
        return self.client.exists(f"session:{key}") == 1

    def __getitem__(self, key):
        value = self.client.get(f"session:{key}")
        if value is None:
            raise KeyError(key)
        return json.loads(value)

    def __setitem__(self, key, value):
        self.client.set(f"session:{key}", json.dumps(value), ex=self.timeout)

    def __delitem__(self, key):
        self.client.delete(f"session:{key}")

    def cleanup(self, timeout):
        pass  # Redis deletes expired keys by itself


def postgres_store():
    db = web.database(os.environ.get("DATABASE_URL", "postgres:///cookbook"))
    db.query("""CREATE TABLE IF NOT EXISTS sessions (
        session_id char(128) UNIQUE NOT NULL,
        atime timestamp NOT NULL default current_timestamp,
        data text
    )""")
    return PostgresStore(db, "sessions")


def redis_store():
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), socket_timeout=5)
    client.ping()
    return RedisStore(client, web.config.session_parameters.timeout)


urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())

# Only the chosen store is made, so only its files or tables appear.
STORES = {"disk": lambda: DiskStore("sessions"), "postgres": postgres_store, "redis": redis_store}
store_name = os.environ.get("SESSION_STORE", "disk")
if store_name not in STORES:
    sys.exit(f"SESSION_STORE={store_name!r}: expected one of {', '.join(STORES)}")
try:
    store = STORES[store_name]()
except Exception as error:  # the database or Redis is unreachable or refuses us: say why and stop
    sys.exit(f"Cannot use the {store_name} store: {error}")
session = LockedSession(app, store, initializer={"count": 0})


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
