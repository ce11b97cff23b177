"""Sessions in Redis: one key per session, expired by Redis itself, one GETEX to load, one SET to save."""
import copy
import json
import os
import sys
import threading

import redis
import web

from store_unavailable import answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


class RedisStore(web.session.Store):
    """Each session is the key `session:<id>` holding JSON, with the session timeout as its TTL."""

    def __init__(self, url, timeout):
        self.url = url
        self.timeout = timeout
        self.local = threading.local()  # per server thread: its own connection, and the last session read

    @property
    def client(self):
        if not hasattr(self.local, "client"):
            # A connection per thread: no shared pool to lock around every command.
            self.local.client = redis.Redis.from_url(self.url, socket_timeout=5, single_connection_client=True)
        return self.local.client

    def _read(self, key):
        # GETEX reads the session and pushes its expiry back: one round trip.
        value = self.client.getex(f"session:{key}", ex=self.timeout)
        self.local.data = key, None if value is None else json.loads(value)
        return self.local.data[1]

    def __contains__(self, key):  # web.py asks this first on every request
        return self._read(key) is not None

    def __getitem__(self, key):
        loaded_key, data = getattr(self.local, "data", (None, None))
        data = data if loaded_key == key else self._read(key)
        if data is None:
            raise KeyError(key)
        return copy.deepcopy(data)  # a copy: what the handler changes in place must not change what was read

    def __setitem__(self, key, value):
        loaded_key, data = getattr(self.local, "data", (None, None))
        if loaded_key == key and data == value:
            return  # unchanged, and GETEX already pushed the expiry back
        self.client.set(f"session:{key}", json.dumps(value), ex=self.timeout)
        self.local.data = key, value

    def __delitem__(self, key):
        self.client.delete(f"session:{key}")
        self.local.data = key, None

    def cleanup(self, timeout):
        pass  # Redis deletes expired keys by itself


urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())

redis_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
timeout_text = os.environ.get("SESSION_TIMEOUT", "86400")
if not timeout_text.isdecimal() or int(timeout_text) == 0:
    sys.exit(f"SESSION_TIMEOUT={timeout_text!r}: expected a whole number of seconds, at least 1")
store = RedisStore(redis_url, int(timeout_text))
try:
    store.client.ping()
except redis.RedisError as error:
    sys.exit(f"Cannot reach Redis at {redis_url}: {error}")


# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, redis.RedisError)
web.config.session_parameters.timeout = int(timeout_text)
session = web.session.Session(app, store, initializer={"count": 0})


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
