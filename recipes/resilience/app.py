"""Count visits with a store that may fail: public pages still served, 503 for the rest, no data lost."""
import os
import sys

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from lazy_session import LazySession
from resilient_stores import FileStore
from store_unavailable import StoreUnavailable, answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


urls = (
    "/", "public",
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# --8<-- [start:store]
# e.g. DATABASE_URL=postgres://user:password@localhost:5432/cookbook; unset: files in sessions/.
database_url = os.environ.get("DATABASE_URL")
if database_url:  # the postgres recipe's table and store, imported only when used
    from pgstore import PostgresStore
    from sessions_table import prepare_sessions_table

    problem = prepare_sessions_table(database_url)
    if problem:
        sys.exit(problem)
    store = PostgresStore(database_url)
else:
    store = FileStore("sessions")


# StoreUnavailable answers 503 in one line; any other error, web.py's 500.
answer_503_when_the_store_fails(app, StoreUnavailable)
session = LazySession(app, store, initializer={"count": 0})
# --8<-- [end:store]


class public:
    def GET(self):
        web.header("Cache-Control", "public, max-age=300")  # the same page for everyone
        return "Welcome: this page uses no session.\n"


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
