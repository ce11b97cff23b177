"""Load (issue #9): the scale-out page's setup, three processes behind nginx on Redis, under several clients.

For LOAD_SECONDS, on loopback only, LOAD_CLIENTS threads each keep a session of their own and send
GET /count through nginx one after another, a connection per request. Every answer must be 200 and
exactly the client's own next count (a session that saw another's data, or lost an update, would
jump or repeat); afterwards each session's count in Redis must equal the requests its client sent.
The figures (requests served, errors, lost updates, p99) are printed at the end of the run.
A copy of the recipe that drops a write now and then must fail the same checks.
"""
import http.client
import json
import re
import statistics
import threading
import time

import redis

from harness import RECIPES, Page, reliability_figures

LOAD_SECONDS = 30
LOAD_CLIENTS = 8
SESSION_ID = re.compile(r"webpy_session_id=([0-9a-f]{40});")


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
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                headers = {"Cookie": f"webpy_session_id={self.session_id}"} if self.session_id else {}
                connection.request("GET", "/count", headers=headers)
                response = connection.getresponse()
                body = response.read()
            except OSError as error:
                self.errors.append(repr(error))
                continue
            finally:
                connection.close()
            self.latencies.append(time.monotonic() - started)
            if response.status != 200:
                self.errors.append(f"{response.status} {body[:200]!r}")
                continue
            if self.session_id is None:
                self.session_id = SESSION_ID.search(response.getheader("Set-Cookie", "")).group(1)
            if body != str(self.count + 1).encode():  # its own count, one more than it last saw
                self.wrong_counts.append((self.count + 1, body[:40]))
            self.count = int(body) if body.isdigit() else self.count + 1


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


def behind_nginx(tmp_path, services, source=None):
    """The scale-out page's three processes and nginx, started by the page's own commands
    (on a copy of the recipe holding `source`, if given)."""
    page_file = tmp_path / "page.md"
    page_file.write_text("---\nservices: [redis, nginx]\n---\n")
    page = Page(page_file, services)
    app = "recipes/scale-out/app.py"
    if source:
        app = "copy/app.py"
        (page.workdir / "copy").mkdir()
        (page.workdir / app).write_text(source)
    for port in ["8081", "8082", "8083"]:
        assert page.run(f"python {app} {port}") == f"http://0.0.0.0:{port}/"
    assert page.run('nginx -p "$PWD" -e stderr -c recipes/scale-out/nginx.conf') == ""
    return page


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


#: A copy of the recipe whose Redis store drops one write in 50 (as a store that fails silently would).
DROPPING = '''    def __setitem__(self, key, value):
        if random.random() < 0.02:
            return
        self.client.set(f"session:{key}", json.dumps(value), ex=self.timeout)
'''


def test_the_load_check_finds_lost_updates(tmp_path, services):
    source = (RECIPES / "scale-out" / "app.py").read_text()
    old = '''    def __setitem__(self, key, value):
        self.client.set(f"session:{key}", json.dumps(value), ex=self.timeout)
'''
    assert source.count(old) == 1
    page = behind_nginx(tmp_path, services, "import random\n" + source.replace(old, DROPPING))
    try:
        figures = drive(page.real_port("8080"), page.env["REDIS_URL"], 3, LOAD_CLIENTS)
    finally:
        page.close()
    print(f"\na copy that drops 2% of its writes, 3 s: {figures}")
    assert figures["lost updates"] > 0 and figures["wrong counts"] > 0
