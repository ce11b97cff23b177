"""Count visits with a store that may fail: public pages still served, 503 for the rest, no data lost."""
import os
import sys

import psycopg
import web
from psycopg_pool import ConnectionPool

from cache_control import keep_sessions_out_of_caches
from lazy_session import LazySession
from resilient_stores import FileStore, PostgresStore, StoreUnavailable
from sessions_table import prepare_sessions_table
from store_unavailable import answer_503_when_the_store_fails

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


def check_connection(connection):
    """Lend a pooled connection only if it works; one that does not means they all may be dead."""
    try:
        ConnectionPool.check_connection(connection)
    except psycopg.Error:
        pool.check()  # test the others now: alone, the pool finds them one at a time, ever longer apart
        raise


urls = (
    "/", "public",
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe

# e.g. DATABASE_URL=postgres://user:password@localhost:5432/cookbook; unset: files in sessions/.
database_url = os.environ.get("DATABASE_URL")
if database_url:
    problem = prepare_sessions_table(database_url)  # the postgres recipe's table (schema.sql)
    if problem:
        sys.exit(problem)
    pool = ConnectionPool(
        database_url, kwargs={"autocommit": True}, min_size=2, max_size=10, open=True,
        timeout=3,  # a request waits at most 3 seconds for a connection, then answers 503
        check=check_connection,  # a connection the server closed is replaced, not used
        reconnect_timeout=1,  # give up a failed reconnection soon: the next request starts a new one
    )
    store = PostgresStore(pool)
else:
    store = FileStore("sessions")


# StoreUnavailable answers 503 in one line; any other error, web.py's 500.
answer_503_when_the_store_fails(app, StoreUnavailable)
session = LazySession(app, store, initializer={"count": 0})


class public:
    def GET(self):
        web.header("Cache-Control", "public, max-age=300")  # the same page for everyone
        return "Welcome: this page uses no session.\n"


class count:
    def GET(self):
        session.count += 1
        return str(session.count)


class reset:
    def POST(self):  # it changes the session: no link may do it
        session.kill()
        return "Reset"


if __name__ == "__main__":
    app.run()
