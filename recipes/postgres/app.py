"""Sessions in PostgreSQL: the store of pgstore.py, one jsonb row per session."""
import os
import sys

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from pgstore import PostgresStore
from sessions_table import prepare_sessions_table
from store_unavailable import StoreUnavailable, answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)

urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# --8<-- [start:store]
# e.g. DATABASE_URL=postgres://user:password@localhost:5432/cookbook; unset: libpq's PG* variables.
database_url = os.environ.get("DATABASE_URL", "")
problem = prepare_sessions_table(database_url)  # made if missing (schema.sql), its shape checked
if problem:
    sys.exit(problem)

# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, StoreUnavailable)
store = PostgresStore(database_url)
session = web.session.Session(app, store, initializer={"count": 0})
# --8<-- [end:store]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
