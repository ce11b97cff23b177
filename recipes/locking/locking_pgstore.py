"""The postgres recipe's store (pgstore.py) with the lock(session_id) that LockedSession takes: a
PostgreSQL advisory lock. Copy this file into your app beside pgstore.py and locked_session.py."""
import contextlib

import psycopg

from locked_session import LOCK_TIMEOUT, busy
from pgstore import PostgresStore
from store_unavailable import StoreUnavailable


class LockingPostgresStore(PostgresStore):
    """The postgres recipe's store with an advisory lock, held for the request by the thread's connection."""

    # --8<-- [start:lock]
    # One round trip, one implicit transaction: the wait's limit (SET LOCAL), then the wait.
    LOCK = f"SET LOCAL statement_timeout = '{LOCK_TIMEOUT}s'; SELECT pg_advisory_lock(hashtext(%s))"

    @contextlib.contextmanager
    def lock(self, session_id):
        self.local.locked = self._locked_connection(session_id)  # the store's statements run on it too
        try:
            yield
        finally:
            connection, self.local.locked = self.local.locked, None
            lent = getattr(self.local, "lent", None)
            if lent and lent.connection is connection:  # not given back broken, which took the lock with it
                self._execute("SELECT pg_advisory_unlock(hashtext(%s))", session_id)
    # --8<-- [end:lock]

    def _locked_connection(self, session_id):
        for retry in (False, True):  # as pgstore's statements: again once if the server had closed it
            connection = None
            try:
                connection = self.cursor().connection
                psycopg.ClientCursor(connection).execute(self.LOCK, [session_id])  # client-side parameters
                return connection
            except psycopg.errors.QueryCanceled:
                raise busy() from None
            except psycopg.Error as error:
                if connection is not None:
                    self._give_back_if_unusable(connection)
                if retry or connection is None or not connection.broken:
                    raise StoreUnavailable(error) from error
                self.pool.check()

    def cursor(self):
        cursor = super().cursor()
        locked = getattr(self.local, "locked", None)
        if locked is not None and locked is not cursor.connection:  # the lock's connection broke: its lock went too
            raise psycopg.OperationalError("the connection that held this session's lock was lost")
        return cursor
