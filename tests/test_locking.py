"""What the locking page says beyond its transcripts: 8 clients x 100 requests at once on one session.

Each store is run in several processes sharing it (two on one directory for disk, three on one
database or one Redis), the requests spread over them. With the recipe's lock the count ends at
exactly 800 more; with the stock store, or the recipe with its lock removed, updates are lost.
"""
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from harness import RECIPES, python_env, start_recipe
from test_cookies import recipe_copy

APP = RECIPES / "locking" / "app.py"
CLIENTS, EACH = 8, 100


def dbstore_on_postgres(services):
    env = services.cookbook_database()
    subprocess.run(["psql", "-d", "cookbook", "-q", "-f", RECIPES / "dbstore" / "schema.sql"],
                   env=python_env(env), check=True)
    return env


#: store -> (processes sharing it, the recipe's environment, the stock recipe, its environment)
STORES = {
    "disk": (2, lambda services: {}, RECIPES / "count" / "app.py", lambda services: {}),
    "postgres": (3, lambda services: dict(services.cookbook_database(), SESSION_STORE="postgres"),
                 RECIPES / "dbstore" / "app.py", dbstore_on_postgres),
    "redis": (3, lambda services: dict(services.environment(["redis"]), SESSION_STORE="redis"),
              RECIPES / "redis" / "app.py", lambda services: services.environment(["redis"])),
}


def get(port, path="/count", cookie=None, timeout=10):
    """(status, body, the cookie the answer sets) of GET path."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(), (response.headers["Set-Cookie"] or "").split(";")[0]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), None


def at_once(servers):
    """8 clients send 100 GET /count each, all at once, with one session's cookie, spread over the servers.

    Returns (how many the count went up by, requests per second, how many answers of each status).
    """
    ports = [server.port for server in servers]
    _, first, cookie = get(ports[0])
    assert first == "1"
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        statuses = list(pool.map(lambda number: get(ports[number % len(ports)], cookie=cookie)[0], range(CLIENTS * EACH)))
    elapsed = time.monotonic() - started
    _, last, _ = get(ports[-1], cookie=cookie)
    return int(last) - 2, CLIENTS * EACH / elapsed, Counter(statuses)  # minus the first and last visits


def run(app, cwd, env, processes):
    servers = [start_recipe(app, cwd, env) for _ in range(processes)]
    try:
        return at_once(servers)
    finally:
        for server in servers:
            server.stop()


def unlocked_copy(tmp_path):
    """The recipe with web.py's own Session instead of LockedSession: the same stores, no lock."""
    source = APP.read_text()
    assert source.count("session = LockedSession(") == 1
    copy = tmp_path / "unlocked" / "app.py"
    copy.parent.mkdir()
    copy.write_text(source.replace("session = LockedSession(", "session = web.session.Session("))
    return copy


def changed_copy(tmp_path, old, new):
    source = APP.read_text()
    assert source.count(old) == 1, old
    copy = tmp_path / "changed" / "app.py"
    copy.parent.mkdir()
    copy.write_text(source.replace(old, new))
    return copy


def assert_only_disk_errors(store, statuses):
    """Unlocked, two processes on one DiskStore also fail now and then: both name their temporary
    file after the thread (`<id>.CP Server Thread-3`), and one moves the other's half-written file."""
    assert set(statuses) <= ({200, 500} if store == "disk" else {200}), statuses


@pytest.mark.parametrize("store", STORES)
def test_no_update_is_lost_with_the_lock(store, services, tmp_path):
    processes, environment, _, _ = STORES[store]
    counted, per_second, statuses = run(APP, tmp_path, environment(services), processes)
    print(f"\n{store}, locked, {processes} processes: {counted} of {CLIENTS * EACH} counted, {per_second:.0f} requests/s")
    assert statuses == {200: CLIENTS * EACH}
    assert counted == CLIENTS * EACH


@pytest.mark.parametrize("without", ["stock store", "lock removed"])
@pytest.mark.parametrize("store", STORES)
def test_without_the_lock_updates_are_lost(store, without, services, tmp_path):
    """The stock store beside the recipe, and the recipe with its lock taken out."""
    processes, environment, stock, stock_environment = STORES[store]
    app, env, name = ((stock, stock_environment, f"stock ({stock.parent.name} recipe)") if without == "stock store"
                      else (unlocked_copy(tmp_path), environment, "lock removed"))
    counted, per_second, statuses = run(app, tmp_path, env(services), processes)
    print(f"\n{store}, {name}, {processes} processes: {counted} of {CLIENTS * EACH} counted, "
          f"{per_second:.0f} requests/s, statuses {dict(statuses)}")
    assert_only_disk_errors(store, statuses)
    assert counted < CLIENTS * EACH * 0.9, "fewer than 10% of the updates were lost"


# A holder of the lock that is not a request: another process, which the test can kill.
HOLDERS = {
    "disk": """
import fcntl, os, sys, time
os.makedirs("sessions.locks", exist_ok=True)
lock_file = open("sessions.locks/" + sys.argv[1][:2], "a")
fcntl.flock(lock_file, fcntl.LOCK_EX)
""",
    "postgres": """
import sys, time, psycopg2
connection = psycopg2.connect("dbname=cookbook")
connection.cursor().execute("SELECT pg_advisory_lock(hashtext(%s))", (sys.argv[1],))
""",
    "redis": """
import os, sys, time, redis
redis.Redis.from_url(os.environ["REDIS_URL"]).set("lock:" + sys.argv[1], "a dead holder's token", nx=True, px=int(sys.argv[2]))
""",
}
HOLD = "print('holding', flush=True)\ntime.sleep(60)\n"


def hold(store, cwd, env, session_id, expiry_ms=60_000):
    """Start a process holding the session's lock; return it once it holds it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDERS[store] + HOLD, session_id, str(expiry_ms)],
                              cwd=cwd, env=python_env(env), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "holding\n"
    return holder


@pytest.mark.parametrize("store", STORES)
def test_a_session_held_too_long_answers_503(store, services, tmp_path):
    """A request that cannot get its session's lock within LOCK_TIMEOUT answers 503 instead of hanging."""
    _, environment, _, _ = STORES[store]
    env = environment(services)
    server = start_recipe(changed_copy(tmp_path, "LOCK_TIMEOUT = 5 ", "LOCK_TIMEOUT = 1 "), tmp_path, env)
    try:
        _, _, cookie = get(server.port)
        holder = hold(store, tmp_path, env, cookie.split("=")[1])
        try:
            started = time.monotonic()
            busy = get(server.port, cookie=cookie)
            waited = time.monotonic() - started
        finally:
            holder.kill()
            holder.wait()
        after = get(server.port, cookie=cookie)
    finally:
        server.stop()
    assert busy == (503, "This session is busy, try again later.\n", None)
    assert 1 <= waited < 3
    if store == "redis":  # the dead holder's key stays until it expires (next test)
        assert after[0] == 503
    else:
        assert after[:2] == (200, "2"), "the lock is free again once its holder is gone"


@pytest.mark.parametrize("store", STORES)
def test_a_holder_that_dies_frees_the_lock(store, services, tmp_path):
    """Killed while it holds the lock: the file lock and the advisory lock go with the process, the Redis key expires."""
    _, environment, _, _ = STORES[store]
    env = environment(services)
    server = start_recipe(APP, tmp_path, env)
    try:
        _, _, cookie = get(server.port)
        holder = hold(store, tmp_path, env, cookie.split("=")[1], expiry_ms=2_000)
        answer = {}
        waiting = threading.Thread(target=lambda: answer.update(result=get(server.port, cookie=cookie)))
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive(), "the request waits for the lock"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        waiting.join(timeout=10)
        freed_after = time.monotonic() - started
    finally:
        server.stop()
    assert answer["result"][:2] == (200, "2")
    print(f"\n{store}: the waiting request was answered {freed_after:.2f} s after its holder was killed")
    if store == "redis":
        assert 1 <= freed_after < 2.5, "only the key's expiry (2 s after it was set) frees it"
    else:
        assert freed_after < 0.5


def test_the_redis_lock_is_released_only_by_its_holder(services, monkeypatch):
    """A request whose lock expired and was taken by another must not delete the other's lock."""
    env = services.environment(["redis"])
    monkeypatch.setenv("REDIS_URL", env["REDIS_URL"])
    monkeypatch.setenv("SESSION_STORE", "redis")
    from harness import import_recipe

    recipe = import_recipe("locking")
    client = redis.Redis.from_url(env["REDIS_URL"])
    with recipe.store.lock("a" * 40):
        client.set("lock:" + "a" * 40, "someone else's token")  # as if ours had expired and been taken
    assert client.get("lock:" + "a" * 40) == b"someone else's token"
    with recipe.store.lock("b" * 40):
        assert client.pttl("lock:" + "b" * 40) > 29_000
    assert not client.exists("lock:" + "b" * 40)


@pytest.mark.parametrize("defence", [True, False], ids=["lower-cased", "as sent"])
def test_a_lock_file_for_40_hex_digits_whatever_their_case_only(defence, tmp_path):
    """4 KB of hex gets a new session without touching the lock files; an id in capitals, which on a
    case-insensitive file system reaches the lower-case id's file, takes that id's lock."""
    as_sent = {"lower": ('.get(self._config.cookie_name, "").lower()', '.get(self._config.cookie_name, "")')}
    server = start_recipe(recipe_copy("locking", tmp_path, **({} if defence else as_sent)), tmp_path)
    try:
        answers = [get(server.port, cookie=f"webpy_session_id={value}")[:2] for value in ["a" * 4096, "A" * 40]]
    finally:
        server.stop()
    assert answers == [(200, "1"), (200, "1")]
    assert [lock.name for lock in (tmp_path / "sessions.locks").iterdir()] == (["aa"] if defence else [])
