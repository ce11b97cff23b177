"""What the redis page says about its store beyond its transcripts."""
import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from harness import REPO
from harness.catalogue import RECIPES_CATALOGUE
from harness.client import Visitor, get
from harness.copies import HELD_COUNT, Change, count_after_an_overlapping_reset, recipe_copy
from harness.in_process import (cookie_header, import_recipe, lengths_after_appending, recorded_calls,
                                store_calls_by_request, table_counts)
from harness.processes import free_port, python_env
from harness.services import SentinelGroup, sentinel_group

APP = RECIPES_CATALOGUE["redis"].app


@pytest.fixture
def empty_redis(services, monkeypatch):
    """An empty Redis, named in this process's environment as a recipe imported by the test reads it."""
    for name, value in services.redis().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def recipe(empty_redis):
    """The redis recipe on an empty Redis, imported as a new process would."""
    return import_recipe("redis")


@pytest.fixture
def commands(monkeypatch):
    """The name of every command the recipe sends to Redis, in order."""
    return recorded_calls(monkeypatch, redis.Redis, "execute_command", lambda command, *args: command)


@pytest.mark.parametrize("page", ["redis.md", "redis.fr.md"])
def test_the_table_of_commands_is_measured(recipe, commands, page):
    rows = store_calls_by_request(recipe.app, commands)
    assert rows == {"first": ["GETEX", "SET"], "returning": ["GETEX", "SET"], "unchanged": ["GETEX"],
                    "new": ["GETEX", "SET"], "reset": ["GETEX", "DEL"]}, "the cleanup sends nothing"
    # The page's rows: changed, unchanged, new visitor, reset.
    assert table_counts(REPO / "docs" / "production" / page) == [
        len(rows["returning"]), len(rows["unchanged"]), len(rows["new"]), len(rows["reset"])]


def test_every_read_pushes_the_expiry_back(recipe):
    returning = cookie_header(recipe.app.request("/count"))
    key = "session:" + returning["Cookie"].split("=")[1]
    recipe.store.client.expire(key, 5)
    recipe.app.request("/nowhere", headers=returning)  # unchanged: no SET, only GETEX
    assert recipe.store.client.ttl(key) > 86400 - 5


def test_a_redis_that_fails_later_answers_503(services, recipe_server):
    env = services.redis()
    server = recipe_server(APP, env)
    admin = redis.Redis.from_url(env["REDIS_URL"])
    first = get(server, "/count")
    assert (first.status, first.text) == (200, "1")
    try:
        admin.config_set("requirepass", "locked out")
        admin.client_kill_filter(_type="normal", skipme=True)  # the recipe's connections must log in again, and can't
        answer = get(server, "/count")
    finally:
        admin.config_set("requirepass", "")
    assert (answer.status, answer.text) == (503, "The session store is unavailable, try again later.\n")


@pytest.mark.parametrize("value", ["\u00b2", "-1", "0", "1h", ""])
def test_a_bad_timeout_stops_the_server_in_one_line(tmp_path, value):
    """Checked before Redis is reached: no Redis needed. '²' is a digit to str.isdigit, not to int()."""
    started = subprocess.run(["python", APP, f"127.0.0.1:{free_port()}"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=30, env=python_env({"SESSION_TIMEOUT": value}))
    message = f"SESSION_TIMEOUT={value!r}: expected a whole number of seconds, at least 1\n"
    assert (started.returncode, started.stdout, started.stderr) == (1, "", message)


def test_the_suites_redis_has_getex(services):
    """GETEX, which the store reads sessions with, is in Redis since 6.2.0 (Redis's documentation)."""
    version = redis.Redis.from_url(services.redis()["REDIS_URL"]).info("server")["redis_version"]
    assert tuple(int(part) for part in version.split(".")[:2]) >= (6, 2), version


def test_a_tuple_and_integer_keys_come_back_changed_so_setting_them_again_writes_every_time(recipe, commands):
    class cart:
        def GET(self):
            recipe.session.pair = (1, 2)
            recipe.session.lines = {7: 1}  # product number -> quantity
            return "set"

    recipe.app.add_mapping("/cart", cart)
    returning = cookie_header(recipe.app.request("/cart"))
    stored = json.loads(recipe.store.client.get("session:" + returning["Cookie"].split("=")[1]))
    assert (stored["pair"], stored["lines"]) == ([1, 2], {"7": 1})
    commands.clear()
    recipe.app.request("/cart", headers=returning)
    assert commands == ["GETEX", "SET"], "the same values, yet written again"


def test_a_change_made_in_place_is_saved(recipe):
    assert lengths_after_appending(recipe.app, recipe.session) == [1, 2, 3, 4]


# A command whose connection Redis closed, not sent again: what the store's retry does, taken out.
NO_RETRY = Change("a command sent again on a new connection when Redis had closed its own",
                  "return self.client.execute_command(*command)", "raise", file="redis_store.py")


@pytest.mark.parametrize("defence", [True, False], ids=["retry", "no retry"])
def test_after_a_redis_restart_every_request_is_answered(defence, services, recipe_server, tmp_path):
    """A command whose connection Redis closed is sent again on a new one: no request fails once Redis is back."""
    app = APP if defence else recipe_copy("redis", tmp_path, NO_RETRY)
    server = recipe_server(app, services.redis())
    cookie = get(server, "/count").cookie()
    with ThreadPoolExecutor(max_workers=10) as pool:
        assert set(pool.map(lambda _: get(server, "/count", cookie=cookie).status, range(30))) == {200}
        services.restart_redis()
        statuses = list(pool.map(lambda _: get(server, "/count", cookie=cookie).status, range(30)))
    assert (statuses.count(200) == 30) is defence, statuses


def test_a_request_that_overlaps_a_reset_stores_the_session_again(services, recipe_server, tmp_path):
    """No locking: a request that loaded the session before /reset deleted it SETs it again after."""
    server = recipe_server(recipe_copy("redis", tmp_path, *HELD_COUNT), services.redis())
    assert count_after_an_overlapping_reset(server, tmp_path) == 3


def started_on(url, cwd):
    return subprocess.run(["python", APP, f"127.0.0.1:{free_port()}"], cwd=cwd, capture_output=True,
                          text=True, timeout=30, env=python_env({"REDIS_URL": url}))


@pytest.mark.parametrize("url", ["redis+sentinel://127.0.0.1/mymaster", "redis+sentinel://127.0.0.1:x/mymaster",
                                 "redis+sentinel://127.0.0.1:26379", "redis+sentinel://127.0.0.1:26379/mymaster/0"])
def test_a_malformed_sentinel_address_stops_the_server_in_one_line(tmp_path, url):
    """Checked before Redis is reached: no Redis needed."""
    started = started_on(url, tmp_path)
    message = f"Cannot reach Redis at {url}: expected redis+sentinel://host:port[,host:port...]/name\n"
    assert (started.returncode, started.stdout, started.stderr) == (1, "", message)


def test_sentinels_that_do_not_answer_stop_the_server_in_one_short_line(tmp_path):
    """redis-py's MasterNotFoundError writes out each Sentinel's whole client: the recipe says why instead."""
    url = f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/mymaster"
    started = started_on(url, tmp_path)
    message = (f"Cannot reach Redis at {url}: No master found for 'mymaster' "
               "(are the Sentinels up, and do they watch that name?)\n")
    assert (started.returncode, started.stdout, started.stderr) == (1, "", message)


@pytest.fixture
def sentinels(tmp_path):
    """A primary, its replica and three Sentinels on loopback, stopped after the test."""
    (tmp_path / "sentinels").mkdir()
    with sentinel_group(tmp_path / "sentinels") as group:
        yield group


def counted_twice_and_replicated(sentinels, server):
    """A visitor who counted to 2 on the primary, and the primary's client, once the replica has the 2."""
    visitor, primary = Visitor(server), sentinels.client(sentinels.primary)
    assert [visitor.get("/count").text for _ in range(2)] == ["1", "2"]
    assert replicated(primary, 10_000) == 1
    return visitor, primary


def replicated(primary, milliseconds):
    """How many replicas have everything written so far: WAIT counts the replicas that acknowledged this
    connection's own writes, so it writes after the recipe's (replication keeps their order)."""
    primary.incr("test:marker")
    return primary.wait(1, milliseconds)


# The client built before a fork kept by the forked process: what the store's process check does, taken out.
CLIENT_KEPT_THROUGH_FORK = Change("a client of its own in a forked process",
                                  'if getattr(self.local, "pid", None) != os.getpid():',
                                  'if not hasattr(self.local, "client"):', file="redis_store.py")


@pytest.mark.parametrize("defence", [True, False], ids=["own client", "inherited client"])
def test_a_process_forked_after_start_up_talks_to_redis_on_a_connection_of_its_own(defence, empty_redis, tmp_path):
    """A server that forks its workers after loading the app (uWSGI's default, gunicorn --preload):
    the client that the start-up's ping built must not be the worker's too, or two processes read
    each other's answers on one socket. Redis's CLIENT ID names the connection a command came on."""
    recipe = import_recipe("redis", None if defence else recipe_copy("redis", tmp_path, CLIENT_KEPT_THROUGH_FORK))
    parent = recipe.store._send("CLIENT", "ID")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the worker: report its connection's id, and leave without pytest's clean-up
        try:
            os.write(write, str(recipe.store._send("CLIENT", "ID")).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    worker = int(os.read(read, 100))
    assert (worker != parent) is defence


# A command that timed out sent again later on the same connection: what giving it back does, taken out.
TIMED_OUT_CONNECTION_KEPT = Change("giving back a connection whose command timed out",
                                   "except (redis.ConnectionError, redis.TimeoutError) as error:",
                                   "except redis.ConnectionError as error:", file="redis_store.py")


@pytest.mark.reliability
@pytest.mark.parametrize("defence", [True, False], ids=["given back", "kept"])
def test_after_a_frozen_primary_the_next_request_goes_to_the_new_one(defence, sentinels, monkeypatch, tmp_path):
    """A primary that stops answering (SIGSTOP: hung, or cut off) gives a timeout, not a closed
    connection: that request answers 503. The thread's connection is given back, so its next request,
    once the Sentinels have failed over, is served by the new primary; a connection kept would
    reconnect to the old one, and time out again, for as long as it does not answer."""
    monkeypatch.setenv("REDIS_URL", sentinels.url)
    app = None if defence else recipe_copy("redis", tmp_path, TIMED_OUT_CONNECTION_KEPT)
    recipe = import_recipe("redis", app)  # in-process: every request on this test's thread, one connection
    returning = cookie_header(recipe.app.request("/count"))
    sentinels.signal(sentinels.primary, signal.SIGSTOP)
    assert recipe.app.request("/count", headers=returning).status == "503 Service Unavailable"
    sentinels.wait_for_failover()
    after = recipe.app.request("/count", headers=returning).status
    assert after == ("200 OK" if defence else "503 Service Unavailable")


# The primary asked of the Sentinels once, at start, and kept: what following the primary does, taken out.
PINNED_PRIMARY = Change("following the primary the Sentinels name (the one they named at start, kept)",
                        "redis.sentinel.SentinelConnectionPool(name, redis.sentinel.Sentinel(sentinels, socket_timeout=5),",
                        "redis.ConnectionPool(**dict(zip(['host', 'port'], redis.sentinel.Sentinel(sentinels)"
                        ".discover_master(name))),", file="redis_store.py")


@pytest.mark.reliability
@pytest.mark.parametrize("defence", [True, False], ids=["sentinel", "pinned primary"])
def test_after_a_failover_the_session_goes_on_on_the_new_primary(defence, sentinels, recipe_server, tmp_path):
    """The primary killed: 503s until the Sentinels name the replica the new primary, then the visitor
    counts on, with the count the replica had. A client kept on the old primary answers 503 for good."""
    app = APP if defence else recipe_copy("redis", tmp_path / "copy", PINNED_PRIMARY)
    server = recipe_server(app, {"REDIS_URL": sentinels.url})
    visitor, _ = counted_twice_and_replicated(sentinels, server)
    sentinels.signal(sentinels.primary, signal.SIGKILL)
    during = []
    sentinels.wait_for_failover(each_time=lambda: during.append(visitor.get("/count")))
    after = [visitor.get("/count") for _ in range(5)]
    assert {answer.status for answer in during} <= {200, 503}, [answer.text for answer in during]
    if defence:
        statuses = [answer.status for answer in during + after]
        assert statuses == [503] * statuses.count(503) + [200] * statuses.count(200), server.log()[-3000:]
        assert statuses[-5:] == [200] * 5, "none after the failover"
        counted = [answer.text for answer in during + after if answer.status == 200]
        assert counted == [str(count) for count in range(3, 3 + len(counted))]
    else:
        assert [answer.status for answer in during + after] == [503] * (len(during) + 5)


@pytest.mark.reliability
def test_a_write_the_replica_has_not_received_is_lost_in_a_failover(sentinels, recipe_server):
    """Replication is asynchronous: the primary acknowledges a write before any replica has it. The
    replica paused and its link cut, the 3 the visitor was shown exists on the primary only; the
    primary dies, the replica becomes the primary with the 2, and the visitor is shown 3 again."""
    server = recipe_server(APP, {"REDIS_URL": sentinels.url})
    visitor, primary = counted_twice_and_replicated(sentinels, server)
    sentinels.signal(sentinels.replica, signal.SIGSTOP)  # reads nothing more...
    primary.client_kill_filter(_type="replica")  # ...and the link is cut: nothing written now reaches it
    assert visitor.get("/count").text == "3"
    assert replicated(primary, 100) == 0, "WAIT would have told: no replica has the 3"
    sentinels.signal(sentinels.primary, signal.SIGKILL)
    sentinels.signal(sentinels.replica, signal.SIGCONT)
    sentinels.wait_for_failover()
    assert visitor.get("/count").text == "3", "the 3 acknowledged by the old primary was lost"


@pytest.mark.upstream
def test_the_redis_defaults_the_failover_section_names(tmp_path):
    """Unless set: a Sentinel thinks a primary down after 30 seconds without an answer; a primary sends
    a new replica its first copy after 5 seconds, waits up to 10 seconds for its replicas when shut
    down, and takes writes without any replica (min-replicas-to-write 0, a lag of 10 seconds once set)."""
    group = SentinelGroup(tmp_path)
    try:
        group.start_server(group.primary)
        settings = group.client(group.primary).config_get(
            "repl-diskless-sync-delay", "shutdown-timeout", "min-replicas-to-write", "min-replicas-max-lag")
        group.start_server(group.sentinels[0], f"sentinel monitor {group.NAME} 127.0.0.1 {group.primary} 1",
                           sentinel=True)
        watched = group.client(group.sentinels[0]).sentinel_master(group.NAME)
    finally:
        group.stop()
    assert settings == {"repl-diskless-sync-delay": "5", "shutdown-timeout": "10",
                        "min-replicas-to-write": "0", "min-replicas-max-lag": "10"}
    assert watched["down-after-milliseconds"] == 30_000
