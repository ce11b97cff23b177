"""Sessions in PostgreSQL: a connection per thread, one SELECT to load, one upsert to save, jsonb data."""
import copy
import os
import sys
import threading

import psycopg
import web
from psycopg.types.json import Jsonb

from cache_control import keep_sessions_out_of_caches
from sessions_table import prepare_sessions_table
from store_unavailable import answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


class PostgresStore(web.session.Store):
    """One row per session. Unchanged sessions cost one SELECT; changed ones a SELECT and an upsert."""

    def __init__(self, url, touch_every=60):
        self.url = url
        self.touch_every = touch_every  # seconds: how stale atime may get before an unchanged session is written
        self.local = threading.local()  # per server thread: its connection, and the row it read last

    def _execute(self, query, *args):
        for attempt in range(2):
            connection = getattr(self.local, "connection", None)
            if connection is None or connection.broken:  # first use, or the server dropped it
                # Autocommit: no BEGIN/COMMIT around each statement. synchronous_commit=off: a write returns
                # before it reaches the disk; a crash of PostgreSQL may lose the last ones, never corrupt them.
                connection = self.local.connection = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=5, options="-c synchronous_commit=off")
            try:
                return connection.execute(query, args)
            except psycopg.OperationalError:
                if attempt or not connection.broken:
                    raise  # the server is down, or the statement itself failed
                # A connection dropped since its last use (a restart): every statement here can run again.

    def _select(self, key):
        row = self._execute("SELECT data, extract(epoch FROM now() - atime) FROM sessions WHERE session_id = %s",
                            key).fetchone()
        self.local.row = key, row
        return row

    def _row(self, key):
        loaded_key, row = getattr(self.local, "row", (None, None))
        return row if loaded_key == key else self._select(key)

    def __contains__(self, key):  # web.py asks this first on every request: the one SELECT
        return self._select(key) is not None

    def __getitem__(self, key):
        row = self._row(key)
        if row is None:
            raise KeyError(key)
        return copy.deepcopy(row[0])  # a copy: what the handler changes in place must not change what was read

    def __setitem__(self, key, value):
        row = self._row(key)
        if row and row[0] == value and row[1] < self.touch_every:
            return  # nothing changed and atime is fresh enough: no write
        self._execute("INSERT INTO sessions (session_id, data) VALUES (%s, %s) ON CONFLICT (session_id)"
                      " DO UPDATE SET data = excluded.data, atime = now()", key, Jsonb(value))
        self.local.row = key, (value, 0)

    def __delitem__(self, key):
        self._execute("DELETE FROM sessions WHERE session_id = %s", key)
        self.local.row = key, None

    def cleanup(self, timeout):
        self._execute("DELETE FROM sessions WHERE atime < now() - make_interval(secs => %s)", timeout)


urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# e.g. DATABASE_URL=postgres://user:password@localhost:5432/cookbook; unset: libpq's PG* variables.
database_url = os.environ.get("DATABASE_URL", "")
problem = prepare_sessions_table(database_url)  # made if missing (schema.sql), its shape checked
if problem:
    sys.exit(problem)


# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, psycopg.Error)
store = PostgresStore(database_url)
session = web.session.Session(app, store, initializer={"count": 0})


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
