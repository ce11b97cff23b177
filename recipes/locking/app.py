"""Count visits with no lost update: the requests of one session run one at a time.

SESSION_STORE picks the store and its lock: disk (default, a file lock), postgres (the postgres
recipe's store on DATABASE_URL, an advisory lock) or redis (REDIS_URL, a lock key with an expiry).
"""
import os
import sys

import redis
import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from locked_session import LockedSession
from locking_pgstore import LockingPostgresStore
from locking_stores import DiskStore, RedisStore
from sessions_table import prepare_sessions_table
from store_unavailable import StoreUnavailable, answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


def postgres_store():
    url = os.environ.get("DATABASE_URL", "postgres:///cookbook")
    problem = prepare_sessions_table(url)  # the postgres recipe's table and store
    if problem:
        sys.exit(problem)
    return LockingPostgresStore(url)


def redis_store():
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"), socket_timeout=5)
    client.ping()
    return RedisStore(client, web.config.session_parameters.timeout)


urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# --8<-- [start:store]
# Only the chosen store is made, so only its files or tables appear.
STORES = {"disk": lambda: DiskStore("sessions"), "postgres": postgres_store, "redis": redis_store}
store_name = os.environ.get("SESSION_STORE", "disk")
if store_name not in STORES:
    sys.exit(f"SESSION_STORE={store_name!r}: expected one of {', '.join(STORES)}")
try:
    store = STORES[store_name]()
except Exception as error:  # the database or Redis is unreachable or refuses us: say why and stop
    sys.exit(f"Cannot use the {store_name} store: {error}")
# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, StoreUnavailable, redis.RedisError)
session = LockedSession(app, store, initializer={"count": 0})
# --8<-- [end:store]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
