"""The cookbook's benchmark (`make bench`): what a session costs on each store, on this machine.

Starts throw-away PostgreSQL and Redis servers as the test suite does, measures every store
in-process (bench/measure.py) and over HTTP (wrk, loopback only, a few seconds each), and the
floor of each recipe's store on PostgreSQL or Redis (the same statements or commands with the
same client, no web.py: measure.py says how); prints two tables and the targets (bench/report.py:
the figures the recipes aim for, each met or not), and writes bench/results.json for the
Performance page.

The cases: web.py's own stores, served by bench/stock.py (STOCK_CASES below), and the recipes'
stores: each variant of tests/harness/catalogue.py that names a case (`bench=`).
"""
import ast
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))  # the harness package, tests/harness/ (no test module)
from harness.digest import recipe_digest  # noqa: E402
from harness import REPO  # noqa: E402
from harness.catalogue import VARIANTS, cookbook_database  # noqa: E402
from harness.processes import python_env, start_recipe  # noqa: E402
from harness.services import Services  # noqa: E402
from report import FLOOR_AIM, floor_table, table, targets  # noqa: E402

SIZES = [1_000, 10_000, 100_000]
HTTP_SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "2"))
# Over HTTP every store is measured this many times, each round going through all of them in turn, so
# that what else the machine does meanwhile weighs on all alike: the medians are kept.
HTTP_ROUNDS = 3
# A rewritten store and its app on the older store are measured one right after the other, this many
# times: the "kept" ratio over HTTP is the median of these pairs (a round of every store apart, they
# drifted by 5 to 8%).
KEPT_ROUNDS = 7
STOCK = BENCH / "stock.py"


def stock(store, servers=lambda services: {}):
    """bench/stock.py's environment for one of web.py's stores (its BENCH_STORE), on the servers it needs."""
    return lambda services: dict(servers(services), BENCH_STORE=store)


#: web.py's own stores, served by bench/stock.py: name -> (environment, kind of store call counted).
STOCK_CASES = {
    "no session": (stock("none"), ""),
    "MemoryStore": (stock("memory"), ""),
    "DiskStore": (stock("disk"), ""),
    "ShelfStore": (stock("shelf"), ""),
    "DBStore, SQLite": (stock("sqlite"), "SQL"),
    "DBStore, PostgreSQL": (stock("postgres", cookbook_database), "SQL"),
}
#: What the store calls of a recipe on these servers are counted as (bench/measure.py counts both).
CALLS = {"postgres": "SQL", "redis": "Redis"}
#: A recipe's row comes after the stock store it does better than (the table reads as a comparison);
#: a recipe not named here comes last.
AFTER = {"cleanup": "DiskStore", "postgres": "DBStore, PostgreSQL"}
#: The commit before the stores of these recipes were rewritten (one piece per concept): each recipe is
#: measured, in the same run, against itself with the store its app had there, taken from git history
#: (bench/before.py serves it; report.py's "kept" targets).
BEFORE = "db34f25"
BEFORE_THE_REWRITE = {"postgres recipe": "recipes/postgres", "redis recipe": "recipes/redis"}


def cases():
    """name -> (app, function of the servers returning the app's environment, kind of store call),
    in the table's order: each stock store, then the recipes that do better than it."""
    def recipe_case(variant):
        calls = " ".join(CALLS[service] for service in variant.recipe.services if service in CALLS)
        return {variant.bench: (variant.recipe.app, variant.environment, calls)}

    recipes = [variant for variant in VARIANTS.values() if variant.bench]
    ordered = {}
    for name, (environment, calls) in STOCK_CASES.items():
        ordered[name] = (STOCK, environment, calls)
        for variant in recipes:
            if AFTER.get(variant.slug) == name:
                ordered |= recipe_case(variant)
    for variant in recipes:
        if variant.bench not in ordered:
            ordered |= recipe_case(variant)
    return ordered


CASES = cases()


def fingerprint(app):
    """Which code was measured: the app's path and a digest of its code and its modules' (tests/test_bench.py
    compares them)."""
    return {"path": app.relative_to(REPO).as_posix(), "code_sha256": recipe_digest(app)}


def before_the_rewrite(directory):
    """name -> the app of each recipe of BEFORE_THE_REWRITE as it was at BEFORE, written under `directory`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BEFORE, *BEFORE_THE_REWRITE.values()], capture_output=True)
    if archive.returncode:
        sys.exit(f"make bench measures recipes against commit {BEFORE} of the repository's history, which this "
                 f"clone lacks (git fetch --unshallow): {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return {name: Path(directory) / recipe / "app.py" for name, recipe in BEFORE_THE_REWRITE.items()}


def in_process(app, env, before=None):
    """bench/measure.py's figures: {"sizes": [one per size], "floor": what the floor sends, or None}."""
    with tempfile.TemporaryDirectory() as workdir:
        output = subprocess.run([sys.executable, str(BENCH / "measure.py"), str(app), *map(str, SIZES),
                                 *(["--before", str(before)] if before else [])],
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
    results, floors = [], []
    with tempfile.TemporaryDirectory() as old:
        try:
            before = before_the_rewrite(old)
            for name, (app, environment, calls) in CASES.items():
                print(f"measuring {name} in-process ...", file=sys.stderr, flush=True)
                measured = in_process(app, environment(services), before.get(name))
                sizes = [{key: value for key, value in size.items() if key != "floor"} for size in measured["sizes"]]
                results.append({"name": name, "calls": calls, "app": fingerprint(app), "in_process": sizes})
                if measured["floor"]:  # a recipe's store on PostgreSQL or Redis: its floor row
                    floors.append({"store": name, **measured["floor"], "in_process": [
                        {"sessions": size["sessions"], **size["floor"]} for size in measured["sizes"]]})
            rounds, pairs = [], {name: [] for name in before}
            for number in range(1, HTTP_ROUNDS + 1):
                print(f"measuring every store over HTTP, round {number} of {HTTP_ROUNDS} ...", file=sys.stderr, flush=True)
                rounds.append([over_http(app, environment(services)) for app, environment, _ in CASES.values()])
            for number in range(1, KEPT_ROUNDS + 1):
                print(f"measuring each rewritten store, then its app on the older one, over HTTP, round {number} of "
                      f"{KEPT_ROUNDS} ...", file=sys.stderr, flush=True)
                for name, old_app in before.items():
                    app, environment, _ = CASES[name]
                    pairs[name].append([over_http(app, environment(services))["requests_per_second"], over_http(
                        BENCH / "before.py", dict(environment(services), BENCH_APP=str(app), BENCH_BEFORE=str(old_app)))[
                        "requests_per_second"]])
        finally:
            services.stop()
    for index, result in enumerate(results):
        measured = [round_[index] for round_ in rounds]
        result["http"] = {"requests_per_second": statistics.median(m["requests_per_second"] for m in measured),
                          "p99_ms": statistics.median(m["p99_ms"] for m in measured),
                          "errors": any(m["errors"] for m in measured),
                          "rounds": [m["requests_per_second"] for m in measured]}
        # Its share of the no-session requests/s of the same round (the first case), the median of the rounds.
        result["ratio"] = statistics.median(round_[index]["requests_per_second"] / round_[0]["requests_per_second"]
                                            for round_ in rounds)
        if result["name"] in before:  # its requests/s over those with its store at BEFORE, measured right after
            measured = pairs[result["name"]]
            result["before"] = {"commit": BEFORE, "http_pairs": measured,
                                "http_ratio": statistics.median(mine / old for mine, old in measured)}
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
               "processor": platform.processor() or platform.machine()}
    print(table(results, SIZES))
    print()
    print(floor_table(results, floors))
    print()
    checked = targets(results, floors)
    for text, met in checked:
        print(f"{'met    ' if met else 'NOT MET'}  {text}")
    (BENCH / "results.json").write_text(json.dumps(
        {"machine": machine, "sizes": SIZES, "http_seconds": HTTP_SECONDS, "http_rounds": HTTP_ROUNDS, "results": results,
         "floors": floors, "floor_aim": FLOOR_AIM, "targets": [{"text": text, "met": met} for text, met in checked]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
