"""What the postgres page says about its store beyond its transcripts."""
import datetime
import os
import subprocess
import threading
import time
from contextlib import contextmanager

import psycopg
import pytest

from harness import REPO
from harness.catalogue import RECIPES_CATALOGUE
from harness.client import counted_at_once, get
from harness.in_process import (cookie_header, import_recipe, lengths_after_appending, recorded_calls,
                                store_calls_by_request, table_counts)
from harness.copies import HELD_COUNT, Change, count_after_an_overlapping_reset, recipe_copy
from harness.processes import RecipeExited, python_env, start_recipe

APP = RECIPES_CATALOGUE["postgres"].app
UNAVAILABLE = "The session store is unavailable, try again later.\n"


@pytest.fixture
def recipe_with(services, tmp_path, monkeypatch):
    """recipe_with(*changes): the postgres recipe, or a copy with those changes, on an empty `cookbook`
    database, imported as a new process would."""
    monkeypatch.chdir(tmp_path)
    for name, value in services.cookbook_database().items():
        monkeypatch.setenv(name, value)
    return lambda *changes: import_recipe("postgres", recipe_copy("postgres", tmp_path / "copy", *changes)
                                          if changes else None)


@pytest.fixture
def recipe(recipe_with):
    return recipe_with()


@pytest.fixture
def statements(monkeypatch):
    """The first word of every statement the recipe sends, in order."""
    return recorded_calls(monkeypatch, psycopg.Cursor, "execute", lambda query, *args: query.split()[0])


@pytest.mark.parametrize("page", ["postgres.md", "postgres.fr.md"])
def test_the_table_of_statements_is_measured(recipe, statements, page):
    rows = store_calls_by_request(recipe.app, statements)
    assert rows["returning"] == ["SELECT", "INSERT"]
    assert rows["unchanged"] == ["SELECT"]
    assert rows["first"] == ["DELETE"] + rows["new"]
    # The page's rows: changed, unchanged, new visitor, reset, first request's extra.
    assert table_counts(REPO / "docs" / "production" / page) == [
        len(rows["returning"]), len(rows["unchanged"]), len(rows["new"]), len(rows["reset"]), 1]


def test_an_unchanged_session_is_written_again_once_its_atime_is_a_minute_old(recipe, statements):
    returning = cookie_header(recipe.app.request("/count"))
    recipe.store._execute("UPDATE sessions SET atime = now() - interval '61 seconds'")
    statements.clear()
    recipe.app.request("/nowhere", headers=returning)
    assert statements == ["SELECT", "INSERT"]


def test_values_that_json_cannot_hold_are_refused(recipe):
    recipe.session.store["0" * 40] = {"count": 1}
    for value in [{"a", "b"}, datetime.date(2026, 1, 1)]:
        with pytest.raises(TypeError, match="not JSON serializable"):
            recipe.session.store["1" * 40] = {"value": value}


def test_a_nul_character_fails_the_save_with_a_503(recipe):
    class nul:
        def GET(self):
            recipe.session.text = "a\x00b"
            return "set"

    recipe.app.add_mapping("/nul", nul)
    answer = recipe.app.request("/nul")
    assert (answer.status, answer.data.decode()) == ("503 Service Unavailable", UNAVAILABLE)


def test_a_tuple_comes_back_a_list_so_setting_it_again_writes_every_time(recipe, statements):
    class pair:
        def GET(self):
            recipe.session.pair = (1, 2)
            return "set"

    recipe.app.add_mapping("/pair", pair)
    returning = cookie_header(recipe.app.request("/pair"))
    assert recipe.store._select(returning["Cookie"].split("=")[1])[0]["pair"] == [1, 2]
    statements.clear()
    recipe.app.request("/pair", headers=returning)
    assert statements == ["SELECT", "INSERT"], "the same pair, yet written again"


def test_a_database_that_fails_later_answers_503(services, recipe_server):
    env = services.cookbook_database()
    server = recipe_server(APP, env)
    first = get(server, "/count")
    assert (first.status, first.text) == (200, "1")
    subprocess.run(["psql", "-d", "cookbook", "-q", "-c", "DROP TABLE sessions"], env=python_env(env), check=True)
    answer = get(server, "/count")
    assert (answer.status, answer.text) == (503, UNAVAILABLE)


def test_connections_dropped_by_the_server_are_opened_again_unseen(services, recipe_server):
    env = services.cookbook_database()
    server = recipe_server(APP, env)
    cookie = get(server, "/count").cookie()

    def counts(visits):
        return [(answer.status, answer.text) for answer in (get(server, "/count", cookie=cookie) for _ in range(visits))]

    before = counts(11)  # spread over the server's threads
    subprocess.run(["psql", "-d", "cookbook", "-q", "-c", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = 'cookbook' AND pid <> pg_backend_pid()"], env=python_env(env), check=True)
    after = counts(12)
    assert before + after == [(200, str(n)) for n in range(2, 25)]


def test_a_change_made_in_place_is_saved(recipe):
    assert lengths_after_appending(recipe.app, recipe.session) == [1, 2, 3, 4]


def test_integer_keys_come_back_as_strings(recipe):
    recipe.session.store["2" * 40] = {"by_id": {1: "one"}}
    assert recipe.store._select("2" * 40)[0]["by_id"] == {"1": "one"}


def test_jsonb_refuses_nan(recipe):
    with pytest.raises(recipe.StoreUnavailable) as refused:
        recipe.session.store["3" * 40] = {"ratio": float("nan")}
    assert isinstance(refused.value.__cause__, psycopg.DataError)


# The table the dbstore page makes in the same `cookbook` database: web.py's DBStore's, data as text.
DBSTORE_TABLE = ("CREATE TABLE sessions (session_id char(128) UNIQUE NOT NULL,"
                 " atime timestamp NOT NULL default current_timestamp, data text)")
NO_SHAPE_CHECK = Change("the check of the table's shape", '    if column != ("jsonb",):\n', "    if False:\n",
                        file="sessions_table.py")


@pytest.mark.parametrize("defence", [True, False], ids=["shape checked", "not checked"])
def test_a_sessions_table_of_another_shape_stops_the_recipe_with_a_message(defence, services, tmp_path, recipe_server):
    env = services.cookbook_database()
    subprocess.run(["psql", "-d", "cookbook", "-qc", DBSTORE_TABLE], env=python_env(env), check=True)
    if defence:
        with pytest.raises(RecipeExited) as exited:
            start_recipe(APP, tmp_path, env)
        assert "The sessions table holds its data as text, not jsonb: another store made it" in str(exited.value)
        assert "Traceback" not in str(exited.value)
    else:  # it starts, then fails the visits
        server = recipe_server(recipe_copy("postgres", tmp_path / "copy", NO_SHAPE_CHECK), env)
        first = get(server, "/count")
        assert {first.status, get(server, "/count", cookie=first.cookie()).status} != {200}


def test_a_request_that_overlaps_a_reset_stores_the_session_again(services, recipe_server, tmp_path):
    """No locking: a request that loaded the session before /reset deleted it upserts its row again."""
    server = recipe_server(recipe_copy("postgres", tmp_path, *HELD_COUNT), services.cookbook_database())
    assert count_after_an_overlapping_reset(server, tmp_path) == 3


# The pool (pgstore.py): a restart, a table that stays locked. Each defence, and a copy without it.
RETRY = Change("the second try of a statement whose connection the server closed",
               "for retry in (False, True):", "for retry in (True,):", file="pgstore.py")
POOL_CHECK = Change("the check of every pooled connection once one is found closed",
                    "                self.pool.check()\n", "                pass\n", file="pgstore.py")
STATEMENT_TIMEOUT = Change("the statement timeout", "-c statement_timeout=3s ", "", file="pgstore.py")


@pytest.mark.parametrize("removed, answer", [
    (None, ("200 OK", "2")),
    (RETRY, ("503 Service Unavailable", UNAVAILABLE)),
    (POOL_CHECK, ("503 Service Unavailable", UNAVAILABLE)),
], ids=["recipe", "no second try", "no check of the others"])
def test_after_a_restart_the_next_visit_counts_on(recipe_with, services, removed, answer):
    """A restart kills every connection: the thread finds its own dead and gives it back, the store has
    the pool try those it keeps idle (pool.check()), and runs the statement again on a new one."""
    recipe = recipe_with(*[removed] if removed else [])
    returning = cookie_header(recipe.app.request("/count"))
    recipe.store.pool.wait()  # its two connections open: one lent to this thread, one idle
    with services.postgres_stopped():
        pass
    seen = recipe.app.request("/count", headers=returning)
    assert (seen.status, seen.data.decode()) == answer


@contextmanager
def sessions_table_locked(env):
    """Another client holds the sessions table locked (a migration, a long report) for the block."""
    with psycopg.connect("dbname=cookbook", **{"host": env["PGHOST"], "port": env["PGPORT"], "user": env["PGUSER"]}) as other:
        other.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        yield
        other.rollback()


def statements_waiting_for_a_lock(env):
    """How many statements on the cookbook database wait for a lock in PostgreSQL now."""
    return int(subprocess.run(["psql", "-d", "cookbook", "-At", "-c", "SELECT count(*) FROM pg_stat_activity"
                               " WHERE datname = 'cookbook' AND wait_event_type = 'Lock'"],
                              env=python_env(env), check=True, capture_output=True, text=True).stdout)


@pytest.mark.parametrize("defence", [True, False], ids=["statement timeout", "none"])
def test_a_table_locked_for_long_answers_503_and_ends_the_statement(defence, services, tmp_path, recipe_server):
    """statement_timeout has PostgreSQL end a statement that waits: the visitor gets a 503 while the
    table is still locked, and nothing of the request is left waiting. Without it, the visitor's 503
    comes only from the store's own wait for an answer (ANSWER_TIMEOUT), and the statement it gave up
    on stays queued in PostgreSQL behind the lock."""
    env = services.cookbook_database()
    server = recipe_server(recipe_copy("postgres", tmp_path / "copy", *[] if defence else [STATEMENT_TIMEOUT]), env)
    cookie = get(server, "/count").cookie()
    with sessions_table_locked(env):
        answer = get(server, "/count", cookie=cookie, timeout=20)
        left_waiting = statements_waiting_for_a_lock(env)
    assert (answer.status, answer.text) == (503, UNAVAILABLE)
    assert left_waiting == (0 if defence else 1)


# A connection string whose TCP settings would find a silent peer dead within seconds, if they could.
TCP_SETTINGS = "?keepalives=1&keepalives_idle=1&keepalives_interval=1&keepalives_count=2&tcp_user_timeout=2000"
ANSWER_TIMEOUT = Change("the store's own limit on the wait for an answer",
                        "url, connection_class=AnswerTimeoutConnection,", "url,", file="pgstore.py")


@pytest.mark.slow
@pytest.mark.parametrize("defence", [True, False], ids=["answer timeout", "TCP settings only"])
def test_a_frozen_database_answers_503_instead_of_hanging(defence, services, tmp_path, recipe_server):
    """A PostgreSQL whose processes are stopped answers nothing, yet its machine acknowledges every
    packet: statement_timeout cannot act, and TCP keepalives and tcp_user_timeout see nothing wrong.
    The store's own limit on its wait (ANSWER_TIMEOUT, 8 s) answers 503; without it, the request waits
    as long as the freeze. Both count on once PostgreSQL is resumed."""
    env = services.cookbook_database()
    app = recipe_copy("postgres", tmp_path / "copy", *[] if defence else [ANSWER_TIMEOUT])
    server = recipe_server(app, dict(env, DATABASE_URL=env["DATABASE_URL"] + TCP_SETTINGS))
    cookie = get(server, "/count").cookie()
    counted_at_once(server)  # every thread has its connection: the frozen visit's statement waits on its own
    with services.postgres_frozen():
        try:
            answer = get(server, "/count", cookie=cookie, timeout=15)
            seen = answer.status, answer.text
        except TimeoutError:
            seen = "no answer in 15 s"
    after = get(server, "/count", cookie=cookie, timeout=15)
    assert seen == ((503, UNAVAILABLE) if defence else "no answer in 15 s")
    assert after.status == 200


GIVEN_BACK = Change("the connection given back when its thread ends",
                    "    def __del__(self):\n        self.pool.putconn(self.connection)\n", "", file="pgstore.py")


@contextmanager
def kept_by_threads(store, count=10):
    """`count` threads each take the store's connection (their first statement would) and keep it while
    the block runs; then they end."""
    holding, done = threading.Barrier(count + 1), threading.Event()

    def keep():
        store.cursor()
        holding.wait(timeout=10)
        done.wait(timeout=10)

    threads = [threading.Thread(target=keep) for _ in range(count)]
    for thread in threads:
        thread.start()
    holding.wait(timeout=10)
    try:
        yield
    finally:
        done.set()
        for thread in threads:
            thread.join()


@pytest.mark.parametrize("defence", [True, False], ids=["given back", "kept"])
def test_each_thread_keeps_its_connection_until_it_ends(recipe_with, defence):
    """The pool keeps two connections: threads beyond them wait at their first statement while it opens
    more, up to ten. Each keeps its connection, then gives it back as it ends: ten new threads find one
    each. Without the give-back, the ten stay lent to threads that are gone."""
    recipe = recipe_with(*[] if defence else [GIVEN_BACK])
    recipe.store.pool.wait()  # its two connections open
    recipe.store.pool.pop_stats()
    with kept_by_threads(recipe.store):
        pass
    first = recipe.store.pool.pop_stats()
    assert (first["pool_size"], first.get("requests_queued", 0)) == (10, 8)
    assert first["pool_available"] == (10 if defence else 0)
    if defence:
        with kept_by_threads(recipe.store):
            pass
        again = recipe.store.pool.pop_stats()
        assert (again["pool_size"], again.get("requests_queued", 0)) == (10, 0)


def test_a_thread_beyond_the_tenth_waits_3_seconds_then_answers_503(recipe):
    """Ten threads keep the pool's ten connections: an eleventh waits the pool's timeout, then 503."""
    with kept_by_threads(recipe.store):
        started = time.monotonic()
        with pytest.raises(recipe.StoreUnavailable):
            "a" * 40 in recipe.store
        waited = time.monotonic() - started
    assert 3 <= waited < 4


@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "none"])
def test_without_autocommit_no_session_is_ever_saved(recipe_with, autocommit):
    """The thread keeps its connection: without autocommit, psycopg opens a transaction with the
    thread's first statement and nothing ever ends it, so no other connection sees a session."""
    recipe = recipe_with(*[] if autocommit else [Change("autocommit", '"autocommit": True, ', "", file="pgstore.py")])
    returning = cookie_header(recipe.app.request("/count"))
    assert recipe.app.request("/count", headers=returning).data == b"2"
    with psycopg.connect(os.environ["DATABASE_URL"]) as other:
        saved = other.execute("SELECT data->>'count' FROM sessions").fetchall()
    assert saved == ([("2",)] if autocommit else [])
