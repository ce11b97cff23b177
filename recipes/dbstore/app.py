"""Count visits with the session stored in a database: SQLite, or PostgreSQL via DATABASE_URL."""
import os
import sys
from pathlib import Path

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from store_unavailable import answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)

urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# --8<-- [start:database]
# e.g. DATABASE_URL=postgres://user:password@localhost:5432/cookbook (web.py spells it postgres://)
database_url = os.environ.get("DATABASE_URL", "sqlite:///sessions.db")
db = web.database(database_url)
try:
    if database_url.startswith("sqlite:"):
        # A local file needs no administrator: create the table on first start.
        db.query((Path(__file__).parent / "schema.sql").read_text())
    db.query("SELECT count(*) FROM sessions")
except db.db_module.Error as error:
    sys.exit(f"Cannot use the sessions table: {error}")


# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, db.db_module.Error)
session = web.session.Session(
    app, web.session.DBStore(db, "sessions"), initializer={"count": 0}
)
# --8<-- [end:database]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
