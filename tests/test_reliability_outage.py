"""Faults (issue #9): PostgreSQL stopped and started again under load.

Clients count on the resilience recipe while PostgreSQL is stopped and started again (with
Services.postgres_stopped, as tests/test_resilience.py): its public page answers 200
throughout, /count 200 or its 503 and nothing else, counting goes on after the restart, and no
update a client was told of is lost. (A SIGKILL during writes: tests/test_reliability_sigkill.py;
a full or read-only disk: tests/test_reliability_disk.py.)
"""
import http.client
import json
import subprocess
import threading
import time

import pytest

from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get
from harness.processes import python_env
from harness.report import reliability_figures

pytestmark = [pytest.mark.reliability, pytest.mark.slow]  # the outage is waited out

PUBLIC = (200, b"Welcome: this page uses no session.\n")
UNAVAILABLE = (503, b"The session store is unavailable, try again later.\n")
LOAD_CLIENTS = 4
BEFORE, OUTAGE, RECOVERY = 1.0, 2.0, 10.0  # seconds: load before the stop, stopped, at most to recover


class Counting(threading.Thread):
    """A client counting in its own session (or reading the public page) until told to stop."""

    def __init__(self, server, path="/count"):
        super().__init__()
        self.server, self.path, self.stop = server, path, threading.Event()
        self.session_id, self.answers = None, []  # (time, status, body)

    def run(self):
        while not self.stop.is_set():
            cookie = self.session_id and f"webpy_session_id={self.session_id}"
            try:
                answer = get(self.server, self.path, cookie=cookie)
                status, body, given = answer.status, answer.body, answer.session_id()
            except (OSError, http.client.HTTPException) as error:
                status, body, given = "no answer", repr(error).encode(), None
            self.session_id = self.session_id or given
            self.answers.append((time.monotonic(), status, body))


def stored_counts(env):
    """session id -> count, as the resilience recipe's table holds them."""
    rows = subprocess.run(["psql", "-d", "cookbook", "-qAt", "-F", " ", "-c", "SELECT session_id, data FROM sessions"],
                          env=python_env(env), check=True, capture_output=True, text=True).stdout
    return {session_id: json.loads(data)["count"] for session_id, data in (row.split(" ", 1) for row in rows.splitlines())}


def counting_again(client, restarted):
    """The client's last answers are 200s, a second or more after the restart."""
    return bool(client.answers) and all(status == 200 and at > restarted + 1 for at, status, _ in client.answers[-3:])


def test_postgres_stopped_under_load_public_pages_served_503_then_counting_on(services, recipe_server):
    env = services.cookbook_database()
    server = recipe_server(RECIPES_CATALOGUE["resilience"].app, env)
    clients = [Counting(server) for _ in range(LOAD_CLIENTS)] + [Counting(server, "/")]
    try:
        for client in clients:
            client.start()
        time.sleep(BEFORE)  # the load runs for a while before the outage (not an order: a duration of load)
        with services.postgres_stopped():
            stopped = time.monotonic()
            time.sleep(OUTAGE)
        restarted = time.monotonic()
        while time.monotonic() < restarted + RECOVERY and not all(counting_again(client, restarted)
                                                                  for client in clients[:-1]):
            time.sleep(0.2)
    finally:
        for client in clients:
            client.stop.set()
        for client in clients:
            client.join()
    server.stop()
    stored = stored_counts(env)

    public = clients[-1].answers
    answers = [answer for client in clients[:-1] for answer in client.answers]
    unexpected = [(status, body) for _, status, body in answers
                  if status != 200 and (status, body) != UNAVAILABLE]
    refused_during = [at for at, status, _ in answers if status == 503 and stopped <= at]
    lost = told = 0
    jumps = []
    for client in clients[:-1]:
        counts = [int(body) for _, status, body in client.answers if status == 200]
        jumps += [(a, b) for a, b in zip(counts, counts[1:]) if b != a + 1]
        told += len(counts)
        lost += max(0, max(counts, default=0) - stored.get(client.session_id, 0))
    recovered = [min((at for at, status, _ in client.answers if status == 200 and at > restarted), default=None)
                 for client in clients[:-1]]
    reliability_figures["store stopped under load: requests"] += len(answers) + len(public)
    reliability_figures["store stopped under load: errors (not 200 or 503)"] += len(unexpected) + sum(
        answer[1:] != PUBLIC for answer in public)
    reliability_figures["store stopped under load: lost updates"] += lost
    print(f"\nresilience on PostgreSQL, {LOAD_CLIENTS} clients + 1 on the public page: {len(answers)} requests,"
          f" {len(refused_during)} answered 503, {told} counted, recovered "
          f"{[round(at - restarted, 2) if at else None for at in recovered]} s after the restart")
    assert all(answer[1:] == PUBLIC for answer in public), {answer[1:] for answer in public} - {PUBLIC}
    assert len(public) > 10
    assert not unexpected, unexpected[:5]
    assert refused_during, "no request met the stopped store"
    assert None not in recovered, "a client never counted again after the restart"
    assert not jumps, jumps[:5]  # each 200 one more than the last: no update lost, none counted twice
    assert lost == 0
