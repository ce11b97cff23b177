"""The cookbook's benchmark (`make bench`): what a session costs on each store, on this machine.

Starts throw-away PostgreSQL and Redis servers as the test suite does, measures every store
in-process (bench/measure.py) and over HTTP (wrk, loopback only, a few seconds each), prints
one table and the targets of issue #8, and writes bench/results.json for the Performance page.
"""
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
from harness import RECIPES, Services, python_env, start_recipe  # noqa: E402
from report import table, targets  # noqa: E402

SIZES = [1_000, 10_000, 100_000]
HTTP_SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "5"))
STOCK = BENCH / "stock.py"


def stock(store):
    return lambda services: {"BENCH_STORE": store}


def on_postgres(extra):
    return lambda services: dict(services.cookbook_database(), **extra)


#: name -> (app, function of the servers returning the app's environment, kind of store call)
CASES = {
    "no session": (STOCK, stock("none"), ""),
    "MemoryStore": (STOCK, stock("memory"), ""),
    "DiskStore": (STOCK, stock("disk"), ""),
    "cleanup recipe": (RECIPES / "cleanup" / "app.py", lambda services: {}, ""),
    "ShelfStore": (STOCK, stock("shelf"), ""),
    "DBStore, SQLite": (STOCK, stock("sqlite"), "SQL"),
    "DBStore, PostgreSQL": (STOCK, on_postgres({"BENCH_STORE": "postgres"}), "SQL"),
    "postgres recipe": (RECIPES / "postgres" / "app.py", on_postgres({}), "SQL"),
    "redis recipe": (RECIPES / "redis" / "app.py", lambda services: services.environment(["redis"]), "Redis"),
}


def fingerprint(app):
    """Which code was measured: the app's path and a digest of its text (tests/test_bench.py compares them)."""
    return {"path": app.relative_to(BENCH.parent).as_posix(), "sha256": hashlib.sha256(app.read_bytes()).hexdigest()}


def in_process(app, env):
    with tempfile.TemporaryDirectory() as workdir:
        output = subprocess.run([sys.executable, str(BENCH / "measure.py"), str(app), *map(str, SIZES)],
                                cwd=workdir, env=python_env(env), check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def over_http(app, env):
    """Requests per second and p99 latency of GET /count for one returning visitor, 8 connections."""
    with tempfile.TemporaryDirectory() as workdir:
        server = start_recipe(app, workdir, env)
        try:
            url = f"http://127.0.0.1:{server.port}/count"
            cookie = (urllib.request.urlopen(url).headers["Set-Cookie"] or "none=").split(";")[0]
            output = subprocess.run(["wrk", "-t2", "-c8", f"-d{HTTP_SECONDS}s", "--latency", "-H", f"Cookie: {cookie}", url],
                                    check=True, capture_output=True, text=True).stdout
        finally:
            server.stop()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p99_ms": milliseconds(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        "errors": bool(errors),
    }


def milliseconds(text):
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]


def main():
    services = Services()
    results = []
    try:
        for name, (app, environment, calls) in CASES.items():
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            env = environment(services)
            results.append({"name": name, "calls": calls, "app": fingerprint(app),
                            "in_process": in_process(app, env), "http": over_http(app, env)})
    finally:
        services.stop()
    baseline = results[0]["http"]["requests_per_second"]
    for result in results:
        result["ratio"] = result["http"]["requests_per_second"] / baseline
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "processor": platform.processor() or platform.machine()}
    print(table(results, SIZES))
    print()
    checked = targets(results)
    for text, met in checked:
        print(f"{'met    ' if met else 'NOT MET'}  {text}")
    (BENCH / "results.json").write_text(json.dumps(
        {"machine": machine, "sizes": SIZES, "http_seconds": HTTP_SECONDS, "results": results,
         "targets": [{"text": text, "met": met} for text, met in checked]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
