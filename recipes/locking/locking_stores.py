"""Two web.py stores with the lock(session_id) that LockedSession takes: files (flock) and Redis
(a key with an expiry); PostgreSQL's is locking_pgstore.py. Copy the one you use into your app."""
import contextlib
import fcntl
import json
import os

import web

from locked_session import wait_for


class DiskStore(web.session.DiskStore):
    """web.py's DiskStore with flock(): 256 lock files, chosen by the first two digits of the id."""

    def __init__(self, root):
        super().__init__(root)
        os.makedirs(root + ".locks", exist_ok=True)  # beside root: DiskStore's cleanup empties root

    # --8<-- [start:disk]
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
    # --8<-- [end:disk]


def try_flock(lock_file):
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class RedisStore(web.session.Store):
    """Sessions as JSON under session:<id>, expired by Redis; the lock is the key lock:<id>."""

    RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

    def __init__(self, client, timeout):
        self.client, self.timeout = client, timeout

    # --8<-- [start:redis]
    @contextlib.contextmanager
    def lock(self, session_id):
        key, token = f"lock:{session_id}", os.urandom(16).hex()
        # NX: only if no one holds it; PX: a holder that dies frees it after 30 s.
        wait_for(lambda: self.client.set(key, token, nx=True, px=30_000))
        try:
            yield
        finally:  # delete the key only if it is still ours (it may have expired and been taken)
            self.client.eval(self.RELEASE, 1, key, token)
    # --8<-- [end:redis]

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
