"""Concurrency (issue #9): parallel sessions never see each other's data, on every kind of store.

Many clients at once, each with a session of its own, each checking only its own count: every
answer must be 200 and exactly one more than the last it saw. (Lost updates within one session,
8 clients x 100 requests on one cookie against the locking recipe on each store, are
tests/test_locking.py's; the load on scale-out is tests/test_reliability_load.py's.)
A copy of the count recipe that keeps the count in a global must fail the same check. (web.py's own
ShelfStore, unlocked, swaps sessions between threads too: tests/test_stores.py shows it.)
"""
import http.client
import re
import threading

import pytest

from harness import COOKIE_NAMES, RECIPES, Recipe, python_env, reliability_figures, start_recipe
from test_bad_cookies import VARIANTS

#: One variant of each session store the recipes implement, all counting on GET /count:
#: name -> whether sessions outlive a process killed while it writes.
STORE_VARIANTS = {
    "count": True,  # web.py's DiskStore, as in cleanup, cookies, parameters, proxy, stores, subapp, testing
    "hardening": True,  # PrivateDiskStore
    "json-store": True,  # SignedJsonStore
    "lazy": True,  # LazySession on TouchedDiskStore
    "resilience": True,  # LazySession on FileStore
    "resilience on postgres": True,
    "locking": True,  # on disk, with flock
    "locking on postgres": True,
    "locking on redis": True,
    "stores with shelf": False,  # a kill while dbm.dumb rewrites its index can leave it empty (see stores)
    "stores with sqlite": True,  # web.py's DBStore, as dbstore
    "stores with memory": False,
    "dbstore on postgres": True,
    "postgres": True,
    "redis": True,
    "scale-out": True,  # on Redis
    "scale-out on postgres": True,
}
ISOLATION_CLIENTS, ISOLATION_REQUESTS = 8, 10


def visit(port, session_id=None, cookie_name="webpy_session_id", path="/count", timeout=10):
    """One GET on a connection of its own: (status, body, the session id the answer sets or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Cookie": f"{cookie_name}={session_id}"} if session_id else {})
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    given = re.search(re.escape(cookie_name) + r"=([0-9a-f]{40});", response.getheader("Set-Cookie", ""))
    return response.status, body, given and given.group(1)


def start_variant(name, services, cwd, app=None, more_env=None):
    """Start a variant of VARIANTS (its recipe, or a copy `app` of it) in cwd."""
    slug, environment = VARIANTS[name]
    app, extra_env = app or RECIPES / slug / "app.py", dict(environment(services), **(more_env or {}))
    server = warmed_up(start_recipe(app, cwd, extra_env))
    server.cookie_name = COOKIE_NAMES.get(slug, "webpy_session_id")

    def again():
        """The same server again on its port (after it was killed), with the same environment."""
        restarted = Recipe(f"python {app} 127.0.0.1:{server.port}", cwd, python_env(extra_env), server.port)
        restarted.cookie_name, restarted.again = server.cookie_name, again
        return warmed_up(restarted)

    server.again = again
    return server


def warmed_up(server):
    """The server after one visit: web.py's first request of a process runs DiskStore.cleanup(), which
    fails (a 500) on a file that another request renames meanwhile: the race of a restart that the
    cleanup page shows and tests/test_cleanup.py tests. Not the subject here."""
    assert visit(server.port)[0] == 200
    return server


def isolated_counts(port, clients, requests, cookie_name="webpy_session_id"):
    """Clients at once, each counting in its own session: the answers that were not its own next count."""
    wrong = []

    def client():
        session_id = None
        for expected in range(1, requests + 1):
            status, body, given = visit(port, session_id, cookie_name)
            session_id = session_id or given
            if (status, body) != (200, str(expected).encode()):
                wrong.append((expected, status, body[:80]))
                return

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wrong


@pytest.mark.parametrize("variant", STORE_VARIANTS)
def test_parallel_sessions_never_see_each_other(variant, services, tmp_path):
    server = start_variant(variant, services, tmp_path)
    try:
        wrong = isolated_counts(server.port, ISOLATION_CLIENTS, ISOLATION_REQUESTS, server.cookie_name)
    finally:
        server.stop()
    reliability_figures["parallel sessions: requests"] += ISOLATION_CLIENTS * ISOLATION_REQUESTS
    reliability_figures["parallel sessions: wrong answers"] += len(wrong)
    log = server.log()
    assert not wrong, (wrong[:5], log[log.find("Traceback"):][:3000])
    assert "Traceback" not in log, log


def test_the_isolation_check_finds_shared_data(tmp_path):
    """A copy of the count recipe that keeps the count in a global instead of the session fails the check."""
    source = (RECIPES / "count" / "app.py").read_text()
    old = "        session.count += 1\n        return str(session.count)\n"
    assert source.count(old) == 1
    (tmp_path / "app.py").write_text(source.replace(old, "        global visits\n        visits = globals().get('visits', 0) + 1\n"
                                                          "        return str(visits)\n"))
    server = start_recipe(tmp_path / "app.py", tmp_path)
    try:
        wrong = isolated_counts(server.port, ISOLATION_CLIENTS, ISOLATION_REQUESTS)
    finally:
        server.stop()
    assert len(wrong) >= ISOLATION_CLIENTS - 1, wrong  # each client stops at its first wrong answer
