"""Faults (issue #9): an app process killed (SIGKILL) during writes, on one recipe of each store.

Clients count in sessions of their own while the process is killed and started again, twice;
then each session reads back whole (the count last answered, or one more if a request was cut
short after its write) or, where sessions live in the process (memory), starts fresh cleanly;
never a 500 or a traceback. The variants are the catalogue's STORE_VARIANTS (tests/harness/catalogue.py),
but for those that say why they are `not_killed`.
"""
import http.client
import threading
import time

import pytest

from harness.catalogue import STORE_VARIANTS
from harness.client import get
from harness.report import reliability_figures
from harness.variants import restarted, start_variant

pytestmark = pytest.mark.reliability

KILLS, WRITING = 2, 0.4  # times the process is killed, seconds of writes before each kill (3 each at least)
KILL_CLIENTS = 4
KILL_VARIANTS = [name for name, variant in STORE_VARIANTS.items() if not variant.not_killed]


class Writer(threading.Thread):
    """A client counting in its session until the server is killed, or for `visits` visits.

    Each answer must be 200 and read the session back whole: one more than the count last told,
    or two on the first visit after a kill (a request cut short after its write); or, for a store
    that does not outlive the process, a fresh session at 1.
    """

    def __init__(self, server, cookie_name, session_id, told, durable, visits=None):
        super().__init__()
        self.server, self.cookie_name, self.durable = server, cookie_name, durable
        self.session_id, self.told = session_id, told
        self.visits, self.after_kill = visits, session_id is not None
        self.killed, self.failures, self.whole, self.fresh = threading.Event(), [], 0, 0

    def run(self):
        while self.visits is None or self.whole + self.fresh < self.visits:
            cookie = self.session_id and f"{self.cookie_name}={self.session_id}"
            try:
                answer = get(self.server, "/count", cookie=cookie, timeout=5)
            except (OSError, http.client.HTTPException) as error:  # the kill cuts answers short
                if not self.killed.is_set():
                    self.failures.append(repr(error))
                return
            status, body, given = answer.status, answer.body, answer.session_id(self.cookie_name)
            counts = [self.told + 1, self.told + 2] if self.after_kill else [self.told + 1]
            if status == 200 and given == (self.session_id or given) and body in [b"%d" % n for n in counts]:
                self.whole += 1
            elif status == 200 and not self.durable and given != self.session_id and body == b"1":
                self.fresh += 1
            else:
                self.failures.append((status, body[:200], "last told", self.told, "same id", given == self.session_id))
                return
            self.session_id, self.told, self.after_kill = given, int(body), False


@pytest.mark.parametrize("variant", KILL_VARIANTS)
def test_sigkill_during_writes_leaves_no_corrupt_session(variant, services, recipe_server):
    durable, cookie_name = STORE_VARIANTS[variant].durable, STORE_VARIANTS[variant].recipe.cookie
    sessions = [(None, 0)] * KILL_CLIENTS  # each client's session id, and the count it was last told
    failures, requests, fresh = [], 0, 0
    server = start_variant(recipe_server, variant, services, restartable=True)
    for _ in range(KILLS):
        writers = [Writer(server, cookie_name, session_id, told, durable) for session_id, told in sessions]
        for writer in writers:
            writer.start()
        time.sleep(WRITING)  # writes go on for a while (not an order: the kill may come at any point)
        deadline = time.monotonic() + 5  # a slow store on a busy machine: a few writes each, still
        while time.monotonic() < deadline and any(writer.whole + writer.fresh < 3 for writer in writers):
            time.sleep(0.05)
        for writer in writers:
            writer.killed.set()
        server.kill()
        for writer in writers:
            writer.join()
        failures += [failure for writer in writers for failure in writer.failures]
        requests += sum(writer.whole + writer.fresh for writer in writers)
        fresh += sum(writer.fresh for writer in writers)
        sessions = [(writer.session_id, writer.told) for writer in writers]
        log, server = server.log(), restarted(server)  # the same port, directory and store
        assert "Traceback" not in log, log
    readers = [Writer(server, cookie_name, session_id, told, durable, visits=1) for session_id, told in sessions]
    for reader in readers:
        reader.run()
    failures += [failure for reader in readers for failure in reader.failures]
    reliability_figures["SIGKILL: requests"] += requests
    reliability_figures["SIGKILL: failures (not read back whole nor fresh)"] += len(failures)
    print(f"\n{variant}: killed {KILLS} times during {requests} writes, {KILL_CLIENTS} sessions:"
          f" read back {sum(reader.whole for reader in readers)} whole, {sum(reader.fresh for reader in readers)} fresh"
          f" ({fresh} fresh starts after a kill)")
    assert not failures, failures[:5]
    assert "Traceback" not in server.log()
    assert all(told > 2 for _, told in sessions), "too few writes between kills to test anything"
