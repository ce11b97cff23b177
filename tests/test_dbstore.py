"""What the dbstore page says about DBStore beyond its transcripts."""
import urllib.error
import urllib.request

import pytest

from harness import RECIPES, RecipeExited, import_recipe, start_recipe


def test_each_request_costs_five_queries(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # sessions.db is created in the working directory
    recipe = import_recipe("dbstore")
    cookie = dict(recipe.app.request("/count").header_items)["Set-Cookie"].split(";")[0]

    queries = []
    execute = recipe.db._db_execute
    monkeypatch.setattr(recipe.db, "_db_execute", lambda cur, query: (queries.append(str(query)), execute(cur, query))[1])
    assert recipe.app.request("/count", headers={"Cookie": cookie}).data == b"2"

    assert [query.split()[0] for query in queries] == ["SELECT", "SELECT", "UPDATE", "SELECT", "UPDATE"]


def test_an_unreachable_database_stops_the_recipe_with_a_message(tmp_path):
    with pytest.raises(RecipeExited) as exited:
        start_recipe(RECIPES / "dbstore" / "app.py", tmp_path,
                     {"DATABASE_URL": "postgres://nobody@127.0.0.1:1/cookbook"})
    assert "Cannot use the sessions table: connection to server at \"127.0.0.1\", port 1 failed" in str(exited.value)
    assert "Traceback" not in str(exited.value)


def test_a_database_that_breaks_later_answers_503(tmp_path):
    server = start_recipe(RECIPES / "dbstore" / "app.py", tmp_path)
    try:
        (tmp_path / "sessions.db").write_bytes(b"this is no longer a database" * 100)
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/count")
        body = error.value.read()
    finally:
        server.stop()
    assert error.value.code == 503
    assert body == b"The session store is unavailable, try again later.\n"


def test_cleanup_deletes_rows_idle_longer_than_the_timeout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = import_recipe("dbstore")
    recipe.app.request("/count")
    recipe.app.request("/count")
    recipe.db.query("UPDATE sessions SET atime = '2000-01-01 00:00:00' WHERE rowid = 1")
    recipe.session.store.cleanup(60)
    assert recipe.db.query("SELECT count(*) AS n FROM sessions")[0].n == 1
