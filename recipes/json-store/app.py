"""Count visits with sessions stored as signed JSON (signed_json_store.py): records edited on disk are refused."""
import os
import secrets
import sys

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from signed_json_store import SignedJsonStore
from store_unavailable import StoreUnavailable, answer_503_when_the_store_fails

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False


urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# --8<-- [start:secret]
secret = os.environ.get("SESSION_SECRET")
if secret is None:
    secret = secrets.token_hex(32)
    print("SESSION_SECRET is not set: a random key signs the sessions, and they end with this process",
          file=sys.stderr)
elif len(secret) < 32:
    sys.exit("SESSION_SECRET is too short: give it at least 32 characters, such as the output of"
             " python -c 'import secrets; print(secrets.token_hex(32))'")


# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, StoreUnavailable)
session = web.session.Session(app, SignedJsonStore("sessions", secret), initializer={"count": 0})
# --8<-- [end:secret]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
