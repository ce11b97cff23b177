"""web.py sessions in PostgreSQL: copy this file, sessions_table.py and schema.sql into your app (the
postgres recipe's app.py shows its use). One jsonb row per session, on a connection a pool lends each
server thread; any database failure raises StoreUnavailable, which store_unavailable.py answers with 503."""
import copy
import threading

import psycopg
import web
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from store_unavailable import StoreUnavailable

ANSWER_TIMEOUT = 8  # seconds; above every statement's own timeout (3 s, the locking recipe's wait 5 s)


class AnswerTimeoutConnection(psycopg.Connection):
    """A statement that gets no answer at all fails after ANSWER_TIMEOUT seconds. statement_timeout cannot
    end it when PostgreSQL is frozen, and TCP keepalives cannot either while its machine acknowledges."""

    def wait(self, gen, *args, timeout=None, **kwargs):  # psycopg waits here for every answer
        return super().wait(gen, *args, timeout=ANSWER_TIMEOUT if timeout is None else timeout, **kwargs)


class Lent:
    """A connection the pool lends one thread, and its cursor: given back as the thread ends (its locals go)."""

    def __init__(self, pool, connection):
        self.pool, self.connection = pool, connection
        self.cursor = self.connection.cursor()  # for every statement: less for psycopg to set up than a new one

    def __del__(self):
        self.pool.putconn(self.connection)


class PostgresStore(web.session.Store):
    """Unchanged sessions cost one SELECT; changed ones a SELECT and an upsert."""

    def __init__(self, url, touch_every=60):
        self.touch_every = touch_every  # seconds: how stale atime may get before an unchanged session is written
        self.local = threading.local()  # per server thread: its connection, and the row it read last
        self.pool = ConnectionPool(
            url, connection_class=AnswerTimeoutConnection,
            min_size=2, max_size=10, open=True,  # 10: web.py's server has ten threads
            timeout=3,  # a thread waits at most 3 seconds for a connection, then answers 503
            reconnect_timeout=1,  # a failed reconnection is given up soon: the next to need one starts another
            # Autocommit: each statement its own transaction (the store never commits). A database down, or a
            # statement that waits (a locked table), fails within seconds. synchronous_commit=off: a write returns
            # before it reaches the disk; a crash of PostgreSQL may lose the last ones, never corrupt them.
            kwargs={"autocommit": True, "connect_timeout": 3,
                    "options": "-c statement_timeout=3s -c synchronous_commit=off"})

    def cursor(self):
        """This thread's cursor, on the connection the pool lends it at its first statement, until it breaks."""
        lent = getattr(self.local, "lent", None)
        if lent is None:
            lent = self.local.lent = Lent(self.pool, self.pool.getconn())
        return lent.cursor

    def _execute(self, query, *args):
        """Run one statement on this thread's cursor, and return the cursor."""
        for retry in (False, True):
            cursor = None
            try:
                cursor = self.cursor()
                return cursor.execute(query, args)
            except psycopg.Error as error:
                if cursor is not None:
                    self._give_back_if_unusable(cursor.connection)
                if retry or cursor is None or not cursor.connection.broken:
                    raise StoreUnavailable(error) from error
                # The server closed this connection (a restart?): those the pool keeps idle may be dead too.
                # Try them all now, then run the statement again: each of this store's can run twice.
                self.pool.check()

    def _give_back_if_unusable(self, connection):
        """Broken, or still waiting for an answer: back to the pool, which closes it. One that failed a statement
        but answers (a timeout, a refused value) is kept, and any lock it holds (the locking recipe's) with it."""
        if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.local.lent = None

    # --8<-- [start:select]
    def _select(self, key):
        row = self._execute("SELECT data, extract(epoch FROM now() - atime) FROM sessions WHERE session_id = %s",
                            key).fetchone()
        self.local.row = key, row
        return row
    # --8<-- [end:select]

    def _row(self, key):
        loaded_key, row = getattr(self.local, "row", (None, None))
        return row if loaded_key == key else self._select(key)

    def __contains__(self, key):  # web.py asks this first on every request: the one SELECT
        return self._select(key) is not None

    def __getitem__(self, key):
        row = self._row(key)
        if row is None:
            raise KeyError(key)
        if not isinstance(row[0], dict):  # not a session this store wrote: keep it, say so
            raise StoreUnavailable(f"record {key} is unreadable: {row[0]!r}")
        return copy.deepcopy(row[0])  # a copy: what the handler changes in place must not change what was read

    # --8<-- [start:upsert]
    def __setitem__(self, key, value):
        row = self._row(key)
        if row and row[0] == value and row[1] < self.touch_every:
            return  # nothing changed and atime is fresh enough: no write
        self._execute("INSERT INTO sessions (session_id, data) VALUES (%s, %s) ON CONFLICT (session_id)"
                      " DO UPDATE SET data = excluded.data, atime = now()", key, Jsonb(value))
        self.local.row = key, (value, 0)
    # --8<-- [end:upsert]

    def __delitem__(self, key):
        self._execute("DELETE FROM sessions WHERE session_id = %s", key)
        self.local.row = key, None

    def cleanup(self, timeout):
        self._execute("DELETE FROM sessions WHERE atime < now() - make_interval(secs => %s)", timeout)
