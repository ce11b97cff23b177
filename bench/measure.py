"""Measure one app in-process with app.request(): run by bench/run.py, prints JSON.

Usage: python bench/measure.py APP_PY SIZE [SIZE ...] [--before OLD_APP_PY]
For each SIZE (stored sessions, filled cumulatively): microseconds per GET /count of one
returning visitor, store calls (SQL statements or Redis commands) per changed, unchanged and
new-visitor request, and how long one cleanup of the store takes. For a store on PostgreSQL or
Redis, also its floor: the same statements or commands with the same client, and no web.py; and
the same application on MemoryStore, each request followed by those calls. With --before, also
the same application with the store of that older app (as it was before the store was rewritten),
timed in turn with it.

How the floor cannot drift from the store: the wrappers below record every call the store makes,
with its arguments and how to send it again. The calls of one changed request (/count) and of
one unchanged request are then sent again, as recorded, on the same psycopg cursor or through
the same Redis client (so the same connection set-up), and timed as the app is. Once, the replay is itself
recorded and must match what the store sent, or the run stops.
"""
import argparse
import json
import statistics
import sys
import time

import web.db

from before import load  # bench/before.py, beside this script

calls = []  # the calls of the request being counted: (name, args, kwargs, a function sending it again or None)
CLIENTS = {}  # a call's name -> the client libraries that send it, with their versions


def count_calls(cls, name, again=None):
    original = getattr(cls, name)

    def counted(self, *args, **kwargs):
        calls.append((name, args, kwargs, again and (lambda: again(self, *args, **kwargs))))
        return original(self, *args, **kwargs)

    setattr(cls, name, counted)


count_calls(web.db.DB, "_db_execute")  # DBStore's SQL: counted, no floor
try:
    import psycopg

    def execute_again(cursor, query, params=None, **kwargs):
        """One statement as pgstore.py sends it, on the same cursor, and the row it returns read."""
        cursor.execute(query, params, **kwargs)
        return cursor.fetchone() if cursor.description else None

    count_calls(psycopg.Cursor, "execute", execute_again)  # the postgres recipe's SQL
    CLIENTS["execute"] = [f"psycopg {psycopg.__version__}"]
except ImportError:
    pass
try:
    import redis
    def command_again(client, *args, **options):
        """One command as redis_store.py sends it, through the same client and its pool."""
        return client.execute_command(*args, **options)

    count_calls(redis.Redis, "execute_command", command_again)  # the redis recipe's commands
    CLIENTS["execute_command"] = [f"redis-py {redis.__version__}"]
except ImportError:
    pass


def calls_of(send):
    """What send() makes the store call."""
    calls.clear()
    send()
    return list(calls)


def microseconds_per_request(send, seconds=2.0):
    for _ in range(50):  # warm up: prepared statements, caches
        send()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            send()
        done += 50
        calls.clear()  # what was counted meanwhile: not needed
    return (time.perf_counter() - start) / done * 1e6


def floor(sent):
    """The calls of one request sent again, without web.py or the store; None if one cannot be."""
    if not sent or any(call[-1] is None for call in sent):
        return None
    send = lambda: [call[-1]() for call in sent]  # noqa: E731
    if [call[:3] for call in calls_of(send)] != [call[:3] for call in sent]:
        sys.exit(f"the floor does not send what the store sent: {sent}")
    return send


def in_turn(measure, against, rounds=7):
    """Two costs in µs per request, each timed a short while, in turn, so that whatever else the machine
    does weighs on both. The medians: (measure's µs, against's µs, measure / against)."""
    mine, theirs = [], []
    for _ in range(rounds):
        theirs.append(against())
        mine.append(measure())
    return statistics.median(mine), statistics.median(theirs), statistics.median(m / t for m, t in zip(mine, theirs))


def against_memory_store_then(send_floor, app, session, size, send_store):
    """The store against the same application with its store swapped for a MemoryStore holding as many
    sessions, each request followed by the floor's calls and timed with them (what the store would cost
    if it added nothing to web.py's sessions but the calls it must send), timed in turn.
    (µs of the MemoryStore-then-floor request, the store's µs / that)."""
    store, memory = session.store, web.session.MemoryStore()
    fill(memory, 0, size)
    session.store = memory
    first = app.request("/count")
    session.store = store
    cookie = {"Cookie": dict(first.header_items)["Set-Cookie"].split(";")[0]}

    def memory_then_floor():
        session.store = memory
        try:
            return microseconds_per_request(lambda: (app.request("/count", headers=cookie), send_floor()), seconds=0.3)
        finally:
            session.store = store

    _, baseline, ratio = in_turn(lambda: microseconds_per_request(send_store, seconds=0.3), memory_then_floor)
    return baseline, ratio


def against_before(before_store, session, send_store):
    """The store against the recipe's store as it was before it was rewritten, in the same app, on the
    same server and session, timed in turn: {"us", "us_before", "ratio_to_before"}."""
    store = session.store

    def with_before():
        session.store = before_store
        try:
            return microseconds_per_request(send_store, seconds=0.3)
        finally:
            session.store = store

    # 15 turns, not 7: with 7, the same code's ratio moved from 0.96 to 1.02 from run to run at one size.
    mine, theirs, ratio = in_turn(lambda: microseconds_per_request(send_store, seconds=0.3), with_before, rounds=15)
    return {"us": mine, "us_before": theirs, "ratio_to_before": ratio}


def fill(store, start, stop):
    """Store sessions start..stop-1 through the store's own API, in one transaction for DBStore."""
    transaction = store.db.transaction() if hasattr(store, "db") else None
    for number in range(start, stop):
        store[f"{number:040x}"] = {"session_id": f"{number:040x}", "count": 1, "ip": "127.0.0.1"}
    if transaction:
        transaction.commit()


def main(app_path, sizes, before_path=None):
    module = load(app_path, "benchmarked")
    before_store = before_path and load(before_path, "before").store
    app, session = module.app, module.session
    first = app.request("/count")
    cookie = {"Cookie": dict(first.header_items).get("Set-Cookie", "none=").split(";")[0]}
    request = lambda path, headers=cookie: lambda: app.request(path, headers=headers)  # noqa: E731
    results, stored, sent = [], 0, {}
    for size in sizes:
        if session is not None:
            fill(session.store, stored, size)
            stored = size
        start = time.perf_counter()
        if session is not None:
            session.store.cleanup(web.config.session_parameters.timeout)
        cleanup_ms = (time.perf_counter() - start) * 1e3
        result = {"sessions": size, "us_per_request": microseconds_per_request(request("/count"))}
        sent = {"changed": calls_of(request("/count")), "unchanged": calls_of(request("/nowhere"))}
        result |= {"calls_changed": len(sent["changed"]), "calls_unchanged": len(sent["unchanged"]),
                   "calls_new_visitor": len(calls_of(request("/count", {}))), "cleanup_ms": cleanup_ms}
        floors = {kind: floor(calls) for kind, calls in sent.items()}
        if all(floors.values()):
            result["floor"] = {f"us_{kind}": microseconds_per_request(send) for kind, send in floors.items()}
            result["floor"]["us_memory_store_then_floor"], result["floor"]["ratio_to_memory_store_then_floor"] = \
                against_memory_store_then(floors["changed"], app, session, size, request("/count"))
        if before_store:
            result["before"] = against_before(before_store, session, request("/count"))
        results.append(result)
    # What the floor sends: each SQL statement, or each Redis command's name, and with which client.
    sends = {kind: [str(call[1][0]) for call in made] for kind, made in sent.items()}
    floor_sent = "floor" in results[-1] and dict(sends, clients=CLIENTS[sent["changed"][0][0]])
    print(json.dumps({"sizes": results, "floor": floor_sent or None}))


if __name__ == "__main__":
    arguments = argparse.ArgumentParser(description="Measure one app in-process (bench/run.py runs it).")
    arguments.add_argument("app")
    arguments.add_argument("sizes", nargs="+", type=int)
    arguments.add_argument("--before", help="the recipe's app before its store was rewritten: its store, timed against")
    parsed = arguments.parse_args()
    main(parsed.app, parsed.sizes, parsed.before)
