"""Count visits with a store that may fail: public pages still served, 503 for the rest, no data lost."""
import os
import sys
import threading

import psycopg
import web
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from lazy_session import LazySession
from sessions_table import prepare_sessions_table
from store_unavailable import answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


class StoreUnavailable(Exception):
    """The store cannot answer now: it is down, or this visitor's record cannot be read."""


class FileStore(web.session.DiskStore):
    """web.py's DiskStore, which says when it cannot answer instead of starting a new session."""

    def _path(self, key):
        if not os.path.isdir(self.root):  # gone, or replaced: DiskStore would call every session new
            raise StoreUnavailable(f"{self.root} is not a directory")
        return self._get_path(key)

    def __contains__(self, key):
        return os.path.exists(self._path(key))

    def __getitem__(self, key):
        try:
            with open(self._path(key), "rb") as file:
                data = file.read()
        except FileNotFoundError:
            raise KeyError(key) from None
        except OSError as error:
            raise StoreUnavailable(error) from error
        try:
            return self.decode(data)
        except Exception as error:  # a record cut short or garbled: keep it, say so
            raise StoreUnavailable(f"record {key} is unreadable: {error!r}") from error

    def __setitem__(self, key, value):
        path = self._path(key)
        try:  # DiskStore ignores a failed write: the visitor would lose what they just did
            with open(f"{path}.{threading.get_ident()}", "wb") as file:
                file.write(self.encode(value))
            os.replace(file.name, path)
        except OSError as error:
            raise StoreUnavailable(error) from error

    def __delitem__(self, key):
        try:
            os.remove(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StoreUnavailable(error) from error


class PostgresStore(web.session.Store):
    """One row per session, its data a JSON object; any failure of the database is StoreUnavailable."""

    def __init__(self, pool):
        self.pool = pool

    def _run(self, query, *params):
        try:
            with self.pool.connection() as connection:
                cursor = connection.execute(query, params)
                return cursor.fetchone() if cursor.description else None
        except (psycopg.Error, PoolTimeout) as error:
            raise StoreUnavailable(error) from error

    def __contains__(self, key):
        return self._run("SELECT 1 FROM sessions WHERE session_id = %s", key) is not None

    def __getitem__(self, key):
        row = self._run("SELECT data FROM sessions WHERE session_id = %s", key)
        if row is None:
            raise KeyError(key)
        if not isinstance(row[0], dict):
            raise StoreUnavailable(f"record {key} is unreadable: {row[0]!r}")
        return row[0]

    def __setitem__(self, key, value):
        self._run("INSERT INTO sessions (session_id, data) VALUES (%s, %s) ON CONFLICT (session_id)"
                  " DO UPDATE SET data = excluded.data, atime = now()", key, Jsonb(value))

    def __delitem__(self, key):
        self._run("DELETE FROM sessions WHERE session_id = %s", key)

    def cleanup(self, timeout):
        self._run("DELETE FROM sessions WHERE atime < now() - make_interval(secs => %s)", timeout)


def check_connection(connection):
    """Lend a pooled connection only if it works; one that does not means they all may be dead."""
    try:
        ConnectionPool.check_connection(connection)
    except psycopg.Error:
        pool.check()  # test the others now: alone, the pool finds them one at a time, ever longer apart
        raise


urls = (
    "/", "public",
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())

# e.g. DATABASE_URL=postgres://user:password@localhost:5432/cookbook; unset: files in sessions/.
database_url = os.environ.get("DATABASE_URL")
if database_url:
    problem = prepare_sessions_table(database_url)  # the postgres recipe's table (schema.sql)
    if problem:
        sys.exit(problem)
    pool = ConnectionPool(
        database_url, kwargs={"autocommit": True}, min_size=2, max_size=10, open=True,
        timeout=3,  # a request waits at most 3 seconds for a connection, then answers 503
        check=check_connection,  # a connection the server closed is replaced, not used
        reconnect_timeout=1,  # give up a failed reconnection soon: the next request starts a new one
    )
    store = PostgresStore(pool)
else:
    store = FileStore("sessions")


# StoreUnavailable answers 503 in one line; any other error, web.py's 500.
answer_503_when_the_store_fails(app, StoreUnavailable)
session = LazySession(app, store, initializer={"count": 0})


class public:
    def GET(self):
        return "Welcome: this page uses no session.\n"


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
