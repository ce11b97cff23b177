"""What the redis page says about its store beyond its transcripts."""
import re

import pytest
import redis

from harness import RECIPES, REPO, fetch, import_recipe, start_recipe

COMMANDS = re.compile(r"^ *\| [^|]+ \| (\d+)\b", re.MULTILINE)  # the page's table of commands


@pytest.fixture
def recipe(services, monkeypatch):
    """The redis recipe on an empty Redis, imported as a new process would."""
    for name, value in services.environment(["redis"]).items():
        monkeypatch.setenv(name, value)
    return import_recipe("redis")


@pytest.fixture
def commands(monkeypatch):
    """The name of every command the recipe sends to Redis, in order."""
    log = []
    execute = redis.Redis.execute_command
    monkeypatch.setattr(redis.Redis, "execute_command",
                        lambda self, *args, **options: (log.append(args[0]), execute(self, *args, **options))[1])
    return log


def cookie_of(response):
    return {"Cookie": dict(response.header_items)["Set-Cookie"].split(";")[0]}


@pytest.mark.parametrize("page", ["redis.md", "redis.fr.md"])
def test_the_table_of_commands_is_measured(recipe, commands, page):
    def measured(path, headers={}):
        commands.clear()
        response = recipe.app.request(path, headers=headers)
        return response, list(commands)

    first, first_commands = measured("/count")  # the process's first request: cleanup, then a new visitor
    returning = cookie_of(first)
    rows = {
        "returning": measured("/count", returning)[1],
        "unchanged": measured("/nowhere", returning)[1],
        "new": measured("/count")[1],
        "reset": measured("/reset", returning)[1],
    }
    assert rows == {"returning": ["GETEX", "SET"], "unchanged": ["GETEX"], "new": ["GETEX", "SET"], "reset": ["GETEX", "DEL"]}
    assert first_commands == rows["new"], "the cleanup sends nothing"

    documented = [int(n) for n in COMMANDS.findall((REPO / "docs" / "production" / page).read_text())]
    # The page's rows: changed, unchanged, new visitor, reset.
    assert documented == [len(rows["returning"]), len(rows["unchanged"]), len(rows["new"]), len(rows["reset"])]


def test_every_read_pushes_the_expiry_back(recipe):
    returning = cookie_of(recipe.app.request("/count"))
    key = "session:" + returning["Cookie"].split("=")[1]
    recipe.store.client.expire(key, 5)
    recipe.app.request("/nowhere", headers=returning)  # unchanged: no SET, only GETEX
    assert recipe.store.client.ttl(key) > 86400 - 5


def test_a_redis_that_fails_later_answers_503(services, tmp_path):
    env = services.environment(["redis"])
    server = start_recipe(RECIPES / "redis" / "app.py", tmp_path, env)
    admin = redis.Redis.from_url(env["REDIS_URL"])
    try:
        assert fetch(server.port, "/count") == (200, b"1")
        admin.config_set("requirepass", "locked out")
        admin.client_kill_filter(_type="normal", skipme=True)  # the recipe's connections must log in again, and can't
        answer = fetch(server.port, "/count")
    finally:
        admin.config_set("requirepass", "")
        server.stop()
    assert answer == (503, b"The session store is unavailable, try again later.\n")
