"""Count visits with a hardened session cookie: __Host- name, Secure, HttpOnly, SameSite."""
import os
import sys

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from hardened_cookie import SAMESITE_VALUES, no_new_cookie_for_a_post_without_one, use_hardened_session_cookie

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False

# --8<-- [start:cookie]
samesite = os.environ.get("SESSION_COOKIE_SAMESITE", "Lax")
if samesite not in SAMESITE_VALUES:
    sys.exit(f"SESSION_COOKIE_SAMESITE={samesite!r}: expected Strict, Lax or None")
use_hardened_session_cookie(samesite)  # before the Session, which copies the parameters

urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session, which it runs around
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"count": 0}
)

# After the Session: a post from another site must not get a new session's cookie.
app.add_processor(no_new_cookie_for_a_post_without_one(session))
# --8<-- [end:cookie]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
