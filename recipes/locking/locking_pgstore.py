"""The postgres recipe's store (pgstore.py) with the lock(session_id) that LockedSession takes: a
PostgreSQL advisory lock. Copy this file into your app beside pgstore.py and locked_session.py."""
import contextlib
import threading

import psycopg

from locked_session import LOCK_TIMEOUT, busy
from pgstore import PostgresStore
from store_unavailable import StoreUnavailable


class LockingPostgresStore(PostgresStore):
    """The postgres recipe's store with an advisory lock, held by one pooled connection for the request."""

    # --8<-- [start:lock]
    # One round trip, one implicit transaction: the wait's limit (SET LOCAL), then the wait.
    LOCK = f"SET LOCAL statement_timeout = '{LOCK_TIMEOUT}s'; SELECT pg_advisory_lock(hashtext(%s))"

    def __init__(self, url):
        super().__init__(url)
        self.held = threading.local()  # per server thread: the connection that holds its lock

    @contextlib.contextmanager
    def lock(self, session_id):
        connection = self._locked_connection(session_id)
        self.held.connection = connection  # the store's statements use it too: one connection a request
        try:
            yield
        finally:
            self.held.connection = None
            if not connection.broken:  # a connection that is gone took its lock with it
                connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", [session_id])
            self.pool.putconn(connection)
    # --8<-- [end:lock]

    def _locked_connection(self, session_id):
        for retry in (False, True):  # as pgstore's statements: again once if the server had closed it
            connection = None
            try:
                connection = self.pool.getconn()
                psycopg.ClientCursor(connection).execute(self.LOCK, [session_id])  # client-side parameters
                return connection
            except psycopg.errors.QueryCanceled:
                self.pool.putconn(connection)
                raise busy() from None
            except psycopg.Error as error:
                if connection is not None:
                    self.pool.putconn(connection)
                if retry or connection is None or not connection.broken:
                    raise StoreUnavailable(error) from error
                self.pool.check()

    def connection(self):
        held = getattr(self.held, "connection", None)
        return contextlib.nullcontext(held) if held else super().connection()
