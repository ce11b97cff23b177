"""What the dbstore page says about DBStore beyond its transcripts."""
import subprocess
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import psycopg2.extensions as pg
import pytest
import web

from harness import REPO
from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get, method_for
from harness.copies import HELD_COUNT, count_after_an_overlap, count_after_an_overlapping_reset, recipe_copy
from harness.in_process import cookie_header, import_recipe, table_counts
from harness.processes import RecipeExited, python_env, start_recipe

APP = RECIPES_CATALOGUE["dbstore"].app


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    """The dbstore recipe on a new sessions.db, imported as a new process would."""
    monkeypatch.chdir(tmp_path)  # sessions.db is created in the working directory
    return import_recipe("dbstore")


def record(recipe, monkeypatch):
    """Log the first word of every statement and every new connection of the recipe's database."""
    log = []
    execute, connect = recipe.db._db_execute, recipe.db._connect
    monkeypatch.setattr(recipe.db, "_db_execute", lambda cur, query: (log.append(str(query).split()[0]), execute(cur, query))[1])
    monkeypatch.setattr(recipe.db, "_connect", lambda keywords: (log.append("connect"), connect(keywords))[1])
    return log


def documented_counts(page):
    return table_counts(REPO / "docs" / "basics" / page)


@pytest.mark.parametrize("page", ["dbstore.md", "dbstore.fr.md"])
def test_the_table_of_statements_is_measured(recipe, monkeypatch, page):
    log = record(recipe, monkeypatch)
    measured = []

    def statements(path, headers={}):
        log.clear()
        response = recipe.app.request(path, method_for(path), headers=headers)
        assert log.count("connect") == 1, "one new connection per request"
        measured.append(len(log) - 1)
        return response

    first = statements("/count")  # the process's first request: cleanup, then a new visitor
    statements("/count")
    returning = cookie_header(first)
    statements("/count", returning)
    statements("/count", {"Cookie": "webpy_session_id=" + "ab" * 20})
    statements("/reset", returning)
    statements("/reset")  # no session: a new id is drawn, then killed
    first_request_extra = measured.pop(0) - measured[0]

    documented = documented_counts(page)
    # The page's rows: returning visitor, new visitor, gone session, reset, reset without a session,
    # first request's extra.
    assert documented == [measured[1], measured[0], measured[2], measured[3], measured[4], first_request_extra]


def test_on_postgresql_each_statement_is_a_transaction_of_its_own(services, tmp_path, monkeypatch):
    """psycopg2 sends BEGIN before a statement outside a transaction, and web.py commits after each one:
    three round trips a statement, over the request's new connection."""
    env = services.cookbook_database()
    subprocess.run(["psql", "-d", "cookbook", "-q", "-f", str(REPO / "recipes" / "dbstore" / "schema.sql")],
                   env=python_env(env), check=True)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    recipe = import_recipe("dbstore")
    log, execute, connect = [], recipe.db._db_execute, recipe.db._connect

    class Connection:  # web.py's connection, its commits logged
        def __init__(self, connection):
            self.connection = connection

        def __getattr__(self, name):
            return getattr(self.connection, name)

        def commit(self):
            log.append("COMMIT")
            self.connection.commit()

    def logged_execute(cursor, query):
        began = cursor.connection.info.transaction_status == pg.TRANSACTION_STATUS_IDLE
        result = execute(cursor, query)
        log.extend(["BEGIN"] * (began and cursor.connection.info.transaction_status == pg.TRANSACTION_STATUS_INTRANS)
                   + [str(query).split()[0]])
        return result

    monkeypatch.setattr(recipe.db, "_db_execute", logged_execute)
    monkeypatch.setattr(recipe.db, "_connect", lambda keywords: (log.append("connect"), Connection(connect(keywords)))[1])
    returning = cookie_header(recipe.app.request("/count"))
    log.clear()
    recipe.app.request("/count", headers=returning)
    statements = [entry for entry in log if entry not in ("connect", "BEGIN", "COMMIT")]
    assert log == ["connect"] + [part for statement in statements for part in ("BEGIN", statement, "COMMIT")]
    assert len(statements) == documented_counts("dbstore.md")[0]  # the page's row for a returning visitor


def test_cleanup_runs_on_a_process_first_request_then_once_per_timeout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(web.config.session_parameters, "timeout", 60)
    recipe = import_recipe("dbstore")
    recipe.app.request("/count")  # this process's first request (cleanup, nothing to delete)
    recipe.db.query("UPDATE sessions SET atime = '2000-01-01 00:00:00'")  # idle for years

    def sessions():
        return recipe.db.query("SELECT count(*) AS n FROM sessions")[0].n

    recipe.app.request("/count")
    assert sessions() == 2, "no cleanup within `timeout` seconds of the last one"
    monkeypatch.setattr(recipe.session, "_last_cleanup_time", recipe.session._last_cleanup_time - 61)
    recipe.app.request("/count")
    assert sessions() == 2, "the idle row went, a new one came"

    restarted = import_recipe("dbstore")  # a new process: cleanup on its first request
    recipe.db.query("UPDATE sessions SET atime = '2000-01-01 00:00:00'")
    restarted.app.request("/count")
    assert sessions() == 1


def test_a_request_that_arrives_while_a_cleanup_runs_runs_one_too(recipe, monkeypatch):
    """web.py notes the cleanup's time only once it has finished, and takes no lock: two first requests
    of a process each run a cleanup. The first waits inside it for the second to start one (were web.py
    to run one cleanup at a time, the wait would end in BrokenBarrierError and a 500)."""
    started, cleanups = threading.Barrier(2, timeout=30), []
    store, cleanup = recipe.session.store, recipe.session.store.cleanup

    def cleanup_that_waits_for_another(timeout):
        cleanups.append(timeout)
        started.wait()
        cleanup(timeout)

    monkeypatch.setattr(store, "cleanup", cleanup_that_waits_for_another)
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(lambda _: recipe.app.request("/count").status, range(2)))
    assert (statuses, len(cleanups)) == (["200 OK", "200 OK"], 2)


def test_overlapping_requests_of_one_session_lose_updates(recipe_server, tmp_path):
    """A request that loaded the session before another saved it writes over its count."""
    server = recipe_server(recipe_copy("dbstore", tmp_path, *HELD_COUNT))
    assert count_after_an_overlap(server, tmp_path) == 3


def test_an_unreachable_database_stops_the_recipe_with_a_message(tmp_path):
    with pytest.raises(RecipeExited) as exited:
        start_recipe(APP, tmp_path, {"DATABASE_URL": "postgres://nobody@127.0.0.1:1/cookbook"})
    assert "Cannot use the sessions table: connection to server at \"127.0.0.1\", port 1 failed" in str(exited.value)
    assert "Traceback" not in str(exited.value)


def test_a_database_that_breaks_later_answers_503(tmp_path, recipe_server):
    server = recipe_server(APP)
    (tmp_path / "sessions.db").write_bytes(b"this is no longer a database" * 100)
    answer = get(server, "/count")
    assert (answer.status, answer.text) == (503, "The session store is unavailable, try again later.\n")


@pytest.mark.parametrize("installed", [False, True], ids=["without dbutils", "with dbutils"])
def test_web_py_pools_connections_only_with_dbutils_and_never_for_sqlite(tmp_path, monkeypatch, installed):
    monkeypatch.setitem(sys.modules, "dbutils", types.ModuleType("dbutils") if installed else None)
    assert web.database("postgres:///cookbook").has_pooling is installed  # no connection is made yet
    assert web.database(f"sqlite:///{tmp_path}/pool.db").has_pooling is False


def test_a_request_that_overlaps_a_reset_stores_the_session_again(recipe_server, tmp_path):
    """No locking: a request that loaded the session before /reset deleted it inserts its row again."""
    server = recipe_server(recipe_copy("dbstore", tmp_path, *HELD_COUNT))
    assert count_after_an_overlapping_reset(server, tmp_path) == 3


NINE_HOURS = 9 * 3600  # Tokyo's clock is nine hours ahead of UTC's


@pytest.mark.parametrize("saved_in, cleaned_in, timeout, rows_left", [
    ("UTC", "Asia/Tokyo", NINE_HOURS - 60, 0),  # idle a moment, yet deleted: the timeout cut by nine hours
    ("UTC", "Asia/Tokyo", NINE_HOURS + 60, 1),
    ("Asia/Tokyo", "UTC", 0, 1),  # a timeout of 0 keeps it: nine hours added to the timeout
    ("UTC", "UTC", 0, 0),  # ...where it deletes a session of its own zone
], ids=["UTC, then Tokyo, under nine hours", "UTC, then Tokyo, over nine hours", "Tokyo, then UTC", "one zone"])
def test_servers_in_two_time_zones_cut_or_stretch_each_other_s_sessions(recipe, monkeypatch, saved_in, cleaned_in,
                                                                          timeout, rows_left):
    """DBStore writes atime in the server's local time, with no zone, and its cleanup compares in local time."""
    with monkeypatch.context() as zone:
        zone.setenv("TZ", saved_in)
        time.tzset()
        recipe.app.request("/count")  # a server in one zone saves a new session now
        zone.setenv("TZ", cleaned_in)
        time.tzset()
        recipe.session.store.cleanup(timeout)  # and a server in the other runs its cleanup
    time.tzset()
    assert recipe.db.query("SELECT count(*) AS n FROM sessions")[0].n == rows_left


@pytest.mark.parametrize("character", ["/", "#", "?", "[", "]"])
def test_a_password_with_a_url_character_cannot_be_given_in_the_url_even_percent_encoded(character):
    encoded = "%{:02X}".format(ord(character))
    with pytest.raises(ValueError):  # web.py unquotes the URL before it parses it
        web.database(f"postgres://cookbook:p{encoded}w@127.0.0.1:5432/cookbook")
    assert web.database(dbn="postgres", db="cookbook", pw=f"p{character}w").keywords["password"] == f"p{character}w"


def test_a_password_whose_start_is_a_number_before_a_slash_is_read_as_a_host_and_port():
    """No ValueError here: web.py takes the user name for the host and the number for the port."""
    keywords = web.database("postgres://cookbook:1234%2Fx@127.0.0.1:5432/cookbook").keywords
    assert (keywords["host"], keywords["port"], keywords["password"]) == ("cookbook", 1234, None)
    assert web.database(dbn="postgres", db="cookbook", pw="1234/x").keywords["password"] == "1234/x"
