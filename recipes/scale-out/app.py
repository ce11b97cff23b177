"""Count visits from several processes behind a proxy: sessions in Redis, or PostgreSQL with DATABASE_URL."""
import os
import socket
import sys

import psycopg
import redis
import web
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from cache_control import keep_sessions_out_of_caches
from redis_store import RedisStore
from sessions_table import prepare_sessions_table
from store_unavailable import answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


class PostgresStore(web.session.Store):
    """One jsonb row per session (see the postgres recipe)."""

    def __init__(self, pool):
        self.pool = pool

    def _execute(self, query, *args):
        with self.pool.connection() as connection:
            return connection.execute(query, args).fetchone()

    def __contains__(self, key):
        return self._execute("SELECT 1 FROM sessions WHERE session_id = %s", key) is not None

    def __getitem__(self, key):
        row = self._execute("SELECT data FROM sessions WHERE session_id = %s", key)
        if row is None:
            raise KeyError(key)
        return row[0]

    def __setitem__(self, key, value):
        self._execute("INSERT INTO sessions (session_id, data) VALUES (%s, %s) ON CONFLICT (session_id)"
                      " DO UPDATE SET data = excluded.data, atime = now() RETURNING 1", key, Jsonb(value))

    def __delitem__(self, key):
        self._execute("DELETE FROM sessions WHERE session_id = %s RETURNING 1", key)

    def cleanup(self, timeout):
        self._execute("DELETE FROM sessions WHERE atime < now() - make_interval(secs => %s) RETURNING 1", timeout)


def check_connection(pool, connection):
    """Lend a pooled connection only if it works; one that does not means they all may be dead."""
    try:
        ConnectionPool.check_connection(connection)
    except psycopg.Error:
        pool.check()  # test the others now: alone, the pool finds them one at a time, ever longer apart
        raise


def store_from_environment():
    """PostgreSQL when DATABASE_URL is set, Redis otherwise; a clear message when it is unreachable."""
    timeout = web.config.session_parameters.timeout
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
        problem = prepare_sessions_table(url)  # the postgres recipe's table (schema.sql)
        if problem:
            sys.exit(problem)
        # check: a connection the server dropped (a restart) is replaced before it is lent.
        pool = ConnectionPool(url, kwargs={"autocommit": True}, max_size=10, timeout=5, open=True,
                              check=lambda connection: check_connection(pool, connection))
        return PostgresStore(pool)
    url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    store = RedisStore(url, timeout)
    try:
        store.client.ping()
    except redis.RedisError as error:
        sys.exit(f"Cannot reach Redis at {url}: {error}")
    return store


urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
# Which process answered: this machine's name and the port this process listens on.
served_by = f"{socket.gethostname()}:{sys.argv[1].rpartition(':')[2] if len(sys.argv) > 1 else 8080}"
app.add_processor(web.loadhook(lambda: web.header("X-Served-By", served_by)))


# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, redis.RedisError, psycopg.Error, PoolTimeout)
session = web.session.Session(app, store_from_environment(), initializer={"count": 0})


class count:
    def GET(self):
        session.count += 1
        return str(session.count)


class reset:
    def POST(self):  # it changes the session: no link may do it
        session.kill()
        return "Reset"


if __name__ == "__main__":
    app.run()
