"""Count visits with sessions in Redis (redis_store.py): one key per session, expired by Redis itself."""
import os
import sys

import redis
import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from redis_store import RedisStore, reason
from store_unavailable import answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)

urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# --8<-- [start:store]
redis_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
timeout_text = os.environ.get("SESSION_TIMEOUT", "86400")
if not timeout_text.isdecimal() or int(timeout_text) == 0:
    sys.exit(f"SESSION_TIMEOUT={timeout_text!r}: expected a whole number of seconds, at least 1")
try:  # REDIS_URL may also name a primary through Sentinel (redis_store.connect)
    store = RedisStore(redis_url, int(timeout_text))
    store.client.ping()
except (redis.RedisError, ValueError) as error:  # ValueError: a malformed REDIS_URL
    sys.exit(f"Cannot reach Redis at {redis_url}: {reason(error)}")


# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, redis.RedisError)
web.config.session_parameters.timeout = int(timeout_text)
session = web.session.Session(app, store, initializer={"count": 0})
# --8<-- [end:store]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
