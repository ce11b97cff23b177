"""Concurrency (issue #9): parallel sessions never see each other's data, on every kind of store.

Many clients at once, each with a session of its own, each checking only its own count: every
answer must be 200 and exactly one more than the last it saw. (Lost updates within one session,
8 clients x 100 requests on one cookie against the locking recipe on each store, are
tests/test_locking.py's; the load on scale-out is tests/test_reliability_load.py's.)
A copy of the count recipe that keeps the count in a global must fail the same check. (web.py's own
ShelfStore, unlocked, swaps sessions between threads too: tests/test_stores.py shows it.)
"""
import threading

import pytest

from harness.catalogue import STORE_VARIANTS, VARIANTS
from harness.client import Visitor
from harness.copies import Change, recipe_copy
from harness.report import reliability_figures
from harness.variants import start_variant

pytestmark = pytest.mark.reliability

ISOLATION_CLIENTS, ISOLATION_REQUESTS = 8, 10
COUNT_IN_A_GLOBAL = Change("the session: the count kept in a global, shared by every visitor",
                           "            session.count += 1\n            return str(session.count)\n",
                           "            global visits\n            visits = globals().get('visits', 0) + 1\n"
                           "            return str(visits)\n", file="counting.py")


def isolated_counts(server, clients, requests, cookie_name="webpy_session_id"):
    """Clients at once, each counting in its own session: the answers that were not its own next count."""
    wrong = []

    def client():
        visitor = Visitor(server, cookie_name)
        for expected in range(1, requests + 1):
            answer = visitor.get("/count")
            if (answer.status, answer.body) != (200, str(expected).encode()):
                wrong.append((expected, answer.status, answer.body[:80]))
                return

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wrong


@pytest.mark.parametrize("variant", STORE_VARIANTS)
def test_parallel_sessions_never_see_each_other(variant, services, recipe_server):
    server = start_variant(recipe_server, variant, services)
    wrong = isolated_counts(server, ISOLATION_CLIENTS, ISOLATION_REQUESTS, VARIANTS[variant].recipe.cookie)
    reliability_figures["parallel sessions: requests"] += ISOLATION_CLIENTS * ISOLATION_REQUESTS
    reliability_figures["parallel sessions: wrong answers"] += len(wrong)
    log = server.log()
    assert not wrong, (wrong[:5], log[log.find("Traceback"):][:3000])
    assert "Traceback" not in log, log


def test_the_isolation_check_finds_shared_data(tmp_path, recipe_server):
    """A copy of the count recipe that keeps the count in a global instead of the session fails the check."""
    server = recipe_server(recipe_copy("count", tmp_path / "copy", COUNT_IN_A_GLOBAL))
    wrong = isolated_counts(server, ISOLATION_CLIENTS, ISOLATION_REQUESTS)
    assert len(wrong) >= ISOLATION_CLIENTS - 1, wrong  # each client stops at its first wrong answer
