"""web.py stores that say when they cannot answer, by raising StoreUnavailable, instead of starting
a new session or failing with a 500: files, and PostgreSQL through a pool. Copy this file into your app."""
import os
import threading

import psycopg
import web
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout


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
