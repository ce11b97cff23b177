"""What the dbstore page says about DBStore beyond its transcripts."""
import sys
import types

import pytest
import web

from harness import REPO
from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get
from harness.copies import HELD_COUNT, count_after_an_overlap, count_after_an_overlapping_reset, recipe_copy
from harness.in_process import cookie_header, import_recipe, table_counts
from harness.processes import RecipeExited, start_recipe

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


@pytest.mark.parametrize("page", ["dbstore.md", "dbstore.fr.md"])
def test_the_table_of_statements_is_measured(recipe, monkeypatch, page):
    log = record(recipe, monkeypatch)
    measured = []

    def statements(path, headers={}):
        log.clear()
        response = recipe.app.request(path, headers=headers)
        assert log.count("connect") == 1, "one new connection per request"
        measured.append(len(log) - 1)
        return response

    first = statements("/count")  # the process's first request: cleanup, then a new visitor
    statements("/count")
    returning = cookie_header(first)
    statements("/count", returning)
    statements("/count", {"Cookie": "webpy_session_id=" + "ab" * 20})
    statements("/reset", returning)
    first_request_extra = measured.pop(0) - measured[0]

    documented = table_counts(REPO / "docs" / "basics" / page)
    # The page's rows: returning visitor, new visitor, gone session, reset, first request's extra.
    assert documented == [measured[1], measured[0], measured[2], measured[3], first_request_extra]


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
