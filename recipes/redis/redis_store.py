"""web.py sessions in Redis: copy this file into your app (the redis recipe's app.py shows its use).

Each session is the key `session:<id>` holding JSON, with the session timeout as its TTL: Redis
deletes what expires, one GETEX loads a session and pushes its expiry back, one SET saves it."""
import copy
import json
import threading

import redis
import redis.sentinel
import web

SENTINEL = "redis+sentinel://"


def connect(url):
    """A client of redis://host:port/db, or of redis+sentinel://host:port,host:port/name (this recipe's
    own form: no password, TLS or database in it): the primary that the Sentinels at those addresses
    call `name`, asked for again when a connection fails or is closed (a failover)."""
    if not url.startswith(SENTINEL):
        return redis.Redis.from_url(url, socket_timeout=5)
    addresses, _, name = url.removeprefix(SENTINEL).partition("/")
    try:
        sentinels = [(host, int(port)) for host, _, port in (a.rpartition(":") for a in addresses.split(","))]
        if not name or "/" in name:
            raise ValueError
    except ValueError:
        raise ValueError(f"expected {SENTINEL}host:port[,host:port...]/name") from None
    return redis.sentinel.Sentinel(sentinels, socket_timeout=5).master_for(name)


def reason(error):
    """Why Redis cannot be reached, in one line: MasterNotFoundError's text holds each Sentinel's client."""
    if isinstance(error, redis.sentinel.MasterNotFoundError):
        return f"{str(error).partition(' : ')[0]} (are the Sentinels up, and do they watch that name?)"
    return str(error)


class RedisStore(web.session.Store):
    def __init__(self, url, timeout):
        self.timeout = timeout
        # One client for all the server's threads. Its pool checks a connection before lending it:
        # one that Redis closed (a restart, an idle timeout) is replaced, not failed on. One dropped
        # without a close (a firewall) is not: the command waits socket_timeout, then fails.
        self.client = connect(url)
        self.local = threading.local()  # per server thread: the last session read

    # --8<-- [start:read]
    def _read(self, key):
        value = self.client.getex(f"session:{key}", ex=self.timeout)
        self.local.data = key, None if value is None else json.loads(value)
        return self.local.data[1]
    # --8<-- [end:read]

    def __contains__(self, key):  # web.py asks this first on every request
        return self._read(key) is not None

    def __getitem__(self, key):
        loaded_key, data = getattr(self.local, "data", (None, None))
        data = data if loaded_key == key else self._read(key)
        if data is None:
            raise KeyError(key)
        return copy.deepcopy(data)  # a copy: what the handler changes in place must not change what was read

    # --8<-- [start:save]
    def __setitem__(self, key, value):
        loaded_key, data = getattr(self.local, "data", (None, None))
        if loaded_key == key and data == value:
            return  # unchanged, and GETEX already pushed the expiry back
        self.client.set(f"session:{key}", json.dumps(value), ex=self.timeout)
        self.local.data = key, value
    # --8<-- [end:save]

    def __delitem__(self, key):
        self.client.delete(f"session:{key}")
        self.local.data = key, None

    def cleanup(self, timeout):
        pass  # Redis deletes expired keys by itself
