"""Count visits from several processes behind a proxy: sessions in Redis, or PostgreSQL with DATABASE_URL."""
import os
import socket
import sys

import redis
import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from pgstore import PostgresStore
from redis_store import RedisStore, reason
from sessions_table import prepare_sessions_table
from store_unavailable import StoreUnavailable, answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


# --8<-- [start:store]
def store_from_environment():
    """PostgreSQL when DATABASE_URL is set, Redis otherwise; a clear message when it is unreachable."""
    timeout = web.config.session_parameters.timeout
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
        problem = prepare_sessions_table(url)  # the postgres recipe's table and store
        if problem:
            sys.exit(problem)
        return PostgresStore(url)
    url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    try:  # REDIS_URL may also name a primary through Sentinel (see the redis recipe)
        store = RedisStore(url, timeout)
        store.client.ping()
    except (redis.RedisError, ValueError) as error:  # ValueError: a malformed REDIS_URL
        sys.exit(f"Cannot reach Redis at {url}: {reason(error)}")
    return store
# --8<-- [end:store]


urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
# --8<-- [start:served]
# Which process answered: this machine's name and the port this process listens on.
served_by = f"{socket.gethostname()}:{sys.argv[1].rpartition(':')[2] if len(sys.argv) > 1 else 8080}"
app.add_processor(web.loadhook(lambda: web.header("X-Served-By", served_by)))
# --8<-- [end:served]


# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, redis.RedisError, StoreUnavailable)
session = web.session.Session(app, store_from_environment(), initializer={"count": 0})


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
