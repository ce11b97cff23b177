"""web.py sessions in Redis: copy this file into your app (the redis recipe's app.py shows its use).

Each session is the key `session:<id>` holding JSON, with the session timeout as its TTL: Redis
deletes what expires, one GETEX loads a session and pushes its expiry back, one SET saves it."""
import copy
import json
import os
import threading

import redis
import redis.sentinel
import web

SENTINEL = "redis+sentinel://"


def connect(url):
    """A pool of connections to redis://host:port/db, or to redis+sentinel://host:port,host:port/name
    (this recipe's own form: no password, TLS or database in it): to the primary that the Sentinels
    at those addresses call `name`, asked for again each time the pool opens a connection."""
    if not url.startswith(SENTINEL):
        return redis.ConnectionPool.from_url(url, socket_timeout=5)
    addresses, _, name = url.removeprefix(SENTINEL).partition("/")
    try:
        sentinels = [(host, int(port)) for host, _, port in (a.rpartition(":") for a in addresses.split(","))]
        if not name or "/" in name:
            raise ValueError
    except ValueError:
        raise ValueError(f"expected {SENTINEL}host:port[,host:port...]/name") from None
    return redis.sentinel.SentinelConnectionPool(name, redis.sentinel.Sentinel(sentinels, socket_timeout=5),
                                                 socket_timeout=5)


def reason(error):
    """Why Redis cannot be reached, in one line: MasterNotFoundError's text holds each Sentinel's client."""
    if isinstance(error, redis.sentinel.MasterNotFoundError):
        return f"{str(error).partition(' : ')[0]} (are the Sentinels up, and do they watch that name?)"
    return str(error)


class RedisStore(web.session.Store):
    def __init__(self, url, timeout):
        self.timeout = timeout
        self.pool = connect(url)
        self.local = threading.local()  # per server thread: its client, and the last session read

    @property
    def client(self):
        """This thread's client: it keeps one connection of the pool, and goes through no pool per command."""
        if getattr(self.local, "pid", None) != os.getpid():  # none yet, or one inherited through a fork
            self.local.client = redis.Redis(connection_pool=self.pool, single_connection_client=True)
            self.local.pid = os.getpid()
        return self.local.client

    def _send(self, *command):
        """One command on this thread's connection. If it failed or Redis closed it (a restart, an idle
        timeout, a failover), the client is given back with it, and the command sent once more on another
        connection of the pool, which checks it before lending it, or opens it (through Sentinel, to the
        primary named now). A Redis that does not answer is not asked twice: the command fails after
        socket_timeout, and the connection is given back all the same."""
        client = self.client
        try:
            return client.execute_command(*command)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            del self.local.pid
            client.close()
            if isinstance(error, redis.TimeoutError):
                raise
            return self.client.execute_command(*command)

    # --8<-- [start:read]
    def _read(self, key):
        value = self._send("GETEX", f"session:{key}", "EX", self.timeout)
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
        self._send("SET", f"session:{key}", json.dumps(value), "EX", self.timeout)
        self.local.data = key, value
    # --8<-- [end:save]

    def __delitem__(self, key):
        self._send("DEL", f"session:{key}")
        self.local.data = key, None

    def cleanup(self, timeout):
        pass  # Redis deletes expired keys by itself
