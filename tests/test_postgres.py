"""What the postgres page says about its store beyond its transcripts."""
import re
import subprocess

import psycopg
import pytest

from harness import RECIPES, REPO, fetch, import_recipe, python_env, start_recipe

STATEMENTS = re.compile(r"^ *\| [^|]+ \| (\d+)\b", re.MULTILINE)  # the page's table of statements


@pytest.fixture
def recipe(services, tmp_path, monkeypatch):
    """The postgres recipe on an empty `cookbook` database, imported as a new process would."""
    monkeypatch.chdir(tmp_path)
    for name, value in services.cookbook_database().items():
        monkeypatch.setenv(name, value)
    return import_recipe("postgres")


@pytest.fixture
def statements(monkeypatch):
    """The first word of every statement the recipe sends, in order."""
    log = []
    execute = psycopg.Connection.execute
    monkeypatch.setattr(psycopg.Connection, "execute",
                        lambda self, query, *args, **kwargs: (log.append(query.split()[0]), execute(self, query, *args, **kwargs))[1])
    return log


def cookie_of(response):
    return {"Cookie": dict(response.header_items)["Set-Cookie"].split(";")[0]}


@pytest.mark.parametrize("page", ["postgres.md", "postgres.fr.md"])
def test_the_table_of_statements_is_measured(recipe, statements, page):
    def measured(path, headers={}):
        statements.clear()
        response = recipe.app.request(path, headers=headers)
        return response, list(statements)

    first, first_statements = measured("/count")  # the process's first request: cleanup, then a new visitor
    returning = cookie_of(first)
    rows = {
        "returning": measured("/count", returning)[1],
        "unchanged": measured("/nowhere", returning)[1],
        "new": measured("/count")[1],
        "reset": measured("/reset", returning)[1],
    }
    assert rows["returning"] == ["SELECT", "INSERT"]
    assert rows["unchanged"] == ["SELECT"]
    assert first_statements == ["DELETE"] + rows["new"]

    documented = [int(n) for n in STATEMENTS.findall((REPO / "docs" / "production" / page).read_text())]
    # The page's rows: changed, unchanged, new visitor, reset, first request's extra.
    assert documented == [len(rows["returning"]), len(rows["unchanged"]), len(rows["new"]), len(rows["reset"]), 1]


def test_an_unchanged_session_is_written_again_once_its_atime_is_a_minute_old(recipe, statements):
    returning = cookie_of(recipe.app.request("/count"))
    recipe.store._execute("UPDATE sessions SET atime = now() - interval '61 seconds'")
    statements.clear()
    recipe.app.request("/nowhere", headers=returning)
    assert statements == ["SELECT", "INSERT"]


def test_values_that_json_cannot_hold_are_refused(recipe):
    recipe.session.store["0" * 40] = {"count": 1}
    with pytest.raises(TypeError, match="not JSON serializable"):
        recipe.session.store["1" * 40] = {"tags": {"a", "b"}}


def test_a_database_that_fails_later_answers_503(services, tmp_path):
    env = services.cookbook_database()
    server = start_recipe(RECIPES / "postgres" / "app.py", tmp_path, env)
    try:
        assert fetch(server.port, "/count") == (200, b"1")
        subprocess.run(["psql", "-d", "cookbook", "-q", "-c", "DROP TABLE sessions"], env=python_env(env), check=True)
        answer = fetch(server.port, "/count")
    finally:
        server.stop()
    assert answer == (503, b"The session store is unavailable, try again later.\n")


def test_a_connection_dropped_by_the_server_is_opened_again(recipe):
    returning = cookie_of(recipe.app.request("/count"))
    with psycopg.connect(recipe.database_url, autocommit=True) as admin:  # the server ends the recipe's connection
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = 'cookbook' AND pid <> pg_backend_pid()")
    answers = [recipe.app.request("/count", headers=returning) for _ in range(2)]
    assert [(answer.status, answer.data) for answer in answers] == [
        ("503 Service Unavailable", b"The session store is unavailable, try again later.\n"), ("200 OK", b"2")]
