"""What the dbstore page says about DBStore beyond its transcripts."""
from harness import import_recipe


def test_each_request_costs_five_queries(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # sessions.db is created in the working directory
    recipe = import_recipe("dbstore")
    cookie = dict(recipe.app.request("/count").header_items)["Set-Cookie"].split(";")[0]

    queries = []
    execute = recipe.db._db_execute
    monkeypatch.setattr(recipe.db, "_db_execute", lambda cur, query: (queries.append(str(query)), execute(cur, query))[1])
    assert recipe.app.request("/count", headers={"Cookie": cookie}).data == b"2"

    assert [query.split()[0] for query in queries] == ["SELECT", "SELECT", "UPDATE", "SELECT", "UPDATE"]
