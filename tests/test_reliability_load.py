"""Load (issue #9): the scale-out page's setup, three processes behind nginx on Redis, under several clients.

For LOAD_SECONDS, on loopback only, LOAD_CLIENTS threads each keep a session of their own and send
GET /count through nginx one after another, a connection per request. Every answer must be 200 and
exactly the client's own next count (a session that saw another's data, or lost an update, would
jump or repeat); afterwards each session's count in Redis must equal the requests its client sent.
The figures (requests served, errors, lost updates, p99) are printed at the end of the run.
A copy of the recipe that drops a write now and then must fail the same checks.
"""
import json
import statistics
import threading
import time

import pytest
import redis

from harness.client import get
from harness.copies import Change, recipe_copy
from harness.report import reliability_figures
from harness.transcripts import Page

pytestmark = pytest.mark.reliability

LOAD_SECONDS = 10  # long enough for thousands of requests on every process; the bench measures speed
LOAD_CLIENTS = 8
#: A copy of the recipe whose Redis store drops one write in 50 (as a store that fails silently would).
DROPS_WRITES = [
    Change("nothing: the random module, to drop writes", "import json\n", "import json\nimport random\n",
           file="redis_store.py"),
    Change("every write kept: one in 50 dropped", 'self._send("SET", f"session:{key}", json.dumps(value), "EX", self.timeout)',
           'random.random() < 0.02 or self._send("SET", f"session:{key}", json.dumps(value), "EX", self.timeout)',
           file="redis_store.py"),
]


class Client(threading.Thread):
    """One visitor: its own session, one request after another until the deadline."""

    def __init__(self, port, deadline):
        super().__init__()
        self.port, self.deadline = port, deadline
        self.session_id, self.sent, self.errors, self.wrong_counts = None, 0, [], []
        self.latencies, self.count = [], 0  # the count it last saw

    def run(self):
        while time.monotonic() < self.deadline:
            self.sent += 1
            started = time.monotonic()
            try:
                answer = get(self.port, "/count", cookie=self.session_id and f"webpy_session_id={self.session_id}")
            except OSError as error:
                self.errors.append(repr(error))
                continue
            self.latencies.append(time.monotonic() - started)
            if answer.status != 200:
                self.errors.append(f"{answer.status} {answer.body[:200]!r}")
                continue
            self.session_id = self.session_id or answer.session_id()
            if answer.body != str(self.count + 1).encode():  # its own count, one more than it last saw
                self.wrong_counts.append((self.count + 1, answer.body[:40]))
            self.count = int(answer.body) if answer.body.isdigit() else self.count + 1


def drive(port, redis_url, seconds, clients):
    """Run the clients against port for `seconds`: the figures of the run."""
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    running = [Client(port, deadline) for _ in range(clients)]
    for client in running:
        client.start()
    for client in running:
        client.join()
    elapsed = time.monotonic() - started
    store = redis.Redis.from_url(redis_url)
    lost = 0
    for client in running:
        stored = store.get(f"session:{client.session_id}")
        lost += client.sent - (json.loads(stored)["count"] if stored else 0)
    latencies = [latency for client in running for latency in client.latencies]
    return {
        "requests": sum(client.sent for client in running),
        "served": len(latencies),
        "errors": sum(len(client.errors) for client in running),
        "wrong counts": sum(len(client.wrong_counts) for client in running),
        "lost updates": lost,
        "p99 ms": statistics.quantiles(latencies, n=100)[98] * 1000,
        "seconds": elapsed,
        "first errors": [error for client in running for error in client.errors][:5],
        "first wrong counts": [wrong for client in running for wrong in client.wrong_counts][:5],
    }


def behind_nginx(tmp_path, services, *changes):
    """The scale-out page's three processes and nginx, started by the page's own commands
    (on a copy of the recipe with `changes` made, if any)."""
    page_file = tmp_path / "page.md"
    page_file.write_text("---\nservices: [redis, nginx]\n---\n")
    page = Page(page_file, services)
    app = "recipes/scale-out/app.py"
    if changes:
        recipe_copy("scale-out", page.workdir / "copy", *changes)
        app = "copy/app.py"
    for port in ["8081", "8082", "8083"]:
        assert page.run(f"python {app} {port}") == f"http://0.0.0.0:{port}/"
    assert page.run('nginx -p "$PWD" -e stderr -c recipes/scale-out/nginx.conf') == ""
    return page


@pytest.mark.slow  # a load of LOAD_SECONDS
def test_scale_out_under_load_serves_every_request_and_loses_no_update(tmp_path, services):
    page = behind_nginx(tmp_path, services)
    try:
        figures = drive(page.real_port("8080"), page.env["REDIS_URL"], LOAD_SECONDS, LOAD_CLIENTS)
        served_by = {port: server.log().count("GET /count") for port, server in page.servers.items() if port != "8080"}
    finally:
        page.close()
    reliability_figures["load: requests sent"] += figures["requests"]
    reliability_figures["load: requests served"] += figures["served"]
    reliability_figures["load: errors"] += figures["errors"] + figures["wrong counts"]
    reliability_figures["load: lost updates"] += figures["lost updates"]
    reliability_figures["load: p99 ms"] = round(figures["p99 ms"], 1)
    reliability_figures["load: seconds"] = round(figures["seconds"], 1)
    print(f"\nscale-out, {LOAD_CLIENTS} clients, {figures['seconds']:.1f} s: {figures}; served by {served_by}")
    assert figures["errors"] == 0, figures["first errors"]
    assert figures["wrong counts"] == 0, figures["first wrong counts"]
    assert figures["lost updates"] == 0
    assert figures["served"] == figures["requests"] > LOAD_CLIENTS * LOAD_SECONDS  # more than one a second each
    assert all(count > figures["requests"] / 6 for count in served_by.values()), served_by  # all three served


def test_the_load_check_finds_lost_updates(tmp_path, services):
    page = behind_nginx(tmp_path, services, *DROPS_WRITES)
    try:
        figures = drive(page.real_port("8080"), page.env["REDIS_URL"], 3, LOAD_CLIENTS)
    finally:
        page.close()
    print(f"\na copy that drops 2% of its writes, 3 s: {figures}")
    assert figures["lost updates"] > 0 and figures["wrong counts"] > 0
