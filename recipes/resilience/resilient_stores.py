"""web.py's DiskStore, made to say when it cannot answer, by raising StoreUnavailable, instead of
starting a new session or failing with a 500. Copy this file into your app (PostgreSQL: the
postgres recipe's pgstore.py raises StoreUnavailable too)."""
import os
import threading

import web

from store_unavailable import StoreUnavailable


class FileStore(web.session.DiskStore):
    """web.py's DiskStore, which says when it cannot answer instead of starting a new session."""

    # --8<-- [start:path]
    def _path(self, key):
        if not os.path.isdir(self.root):  # gone, or replaced: DiskStore would call every session new
            raise StoreUnavailable(f"{self.root} is not a directory")
        return self._get_path(key)
    # --8<-- [end:path]

    def __contains__(self, key):
        return os.path.exists(self._path(key))

    # --8<-- [start:read]
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
    # --8<-- [end:read]

    # --8<-- [start:save]
    def __setitem__(self, key, value):
        path = self._path(key)
        try:  # DiskStore ignores a failed write: the visitor would lose what they just did
            with open(f"{path}.{threading.get_ident()}", "wb") as file:
                file.write(self.encode(value))
            os.replace(file.name, path)
        except OSError as error:
            raise StoreUnavailable(error) from error
    # --8<-- [end:save]

    def __delitem__(self, key):
        try:
            os.remove(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StoreUnavailable(error) from error
