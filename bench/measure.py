"""Measure one app in-process with app.request(): run by bench/run.py, prints JSON.

Usage: python bench/measure.py APP_PY SIZE [SIZE ...]
For each SIZE (stored sessions, filled cumulatively): microseconds per GET /count of one
returning visitor, store calls (SQL statements or Redis commands) per changed, unchanged and
new-visitor request, and how long one cleanup of the store takes.
"""
import importlib.util
import json
import os
import sys
import time

import web.db

calls = []


def count_calls(cls, name):
    original = getattr(cls, name)

    def counted(self, *args, **kwargs):
        calls.append(name)
        return original(self, *args, **kwargs)

    setattr(cls, name, counted)


count_calls(web.db.DB, "_db_execute")  # DBStore's SQL
try:
    import psycopg
    count_calls(psycopg.Connection, "execute")  # the postgres recipe's SQL
except ImportError:
    pass
try:
    import redis
    count_calls(redis.Redis, "execute_command")  # the redis recipe's commands
except ImportError:
    pass


def load(path):
    sys.path.insert(0, os.path.dirname(path))  # as `python app.py` does: the modules beside it
    spec = importlib.util.spec_from_file_location("benchmarked", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def calls_of(app, path, headers=None):
    calls.clear()
    app.request(path, headers=headers or {})
    return len(calls)


def microseconds_per_request(app, headers, seconds=2.0):
    for _ in range(50):  # warm up: prepared statements, caches
        app.request("/count", headers=headers)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            app.request("/count", headers=headers)
        done += 50
    return (time.perf_counter() - start) / done * 1e6


def fill(store, start, stop):
    """Store sessions start..stop-1 through the store's own API, in one transaction for DBStore."""
    transaction = store.db.transaction() if hasattr(store, "db") else None
    for number in range(start, stop):
        store[f"{number:040x}"] = {"session_id": f"{number:040x}", "count": 1, "ip": "127.0.0.1"}
    if transaction:
        transaction.commit()


def main(app_path, sizes):
    module = load(app_path)
    app, session = module.app, module.session
    first = app.request("/count")
    cookie = {"Cookie": dict(first.header_items).get("Set-Cookie", "none=").split(";")[0]}
    results, stored = [], 0
    for size in sizes:
        if session is not None:
            fill(session.store, stored, size)
            stored = size
        start = time.perf_counter()
        if session is not None:
            session.store.cleanup(web.config.session_parameters.timeout)
        cleanup_ms = (time.perf_counter() - start) * 1e3
        results.append({
            "sessions": size,
            "us_per_request": microseconds_per_request(app, cookie),
            "calls_changed": calls_of(app, "/count", cookie),
            "calls_unchanged": calls_of(app, "/nowhere", cookie),
            "calls_new_visitor": calls_of(app, "/count"),
            "cleanup_ms": cleanup_ms,
        })
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], [int(size) for size in sys.argv[2:]])
