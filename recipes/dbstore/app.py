"""Count visits with the session stored in a database: SQLite, or PostgreSQL via DATABASE_URL."""
import os
import sys
from pathlib import Path

import web

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)

urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())

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


def internal_error():
    """A database that fails during a request gets a clear 503 instead of a bare 500."""
    if isinstance(sys.exc_info()[1], db.db_module.Error):
        return web.HTTPError("503 Service Unavailable", data="The session store is unavailable, try again later.\n")
    return web.internalerror()


app.internalerror = internal_error
session = web.session.Session(
    app, web.session.DBStore(db, "sessions"), initializer={"count": 0}
)


class count:
    def GET(self):
        session.count += 1
        return str(session.count)


class reset:
    def GET(self):
        session.kill()
        return "Reset"


if __name__ == "__main__":
    app.run()
