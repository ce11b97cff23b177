"""What the locking recipe's lock costs, on this machine: `python bench/locking.py` (about a minute).

For each store of recipes/locking/app.py (disk, postgres, redis: throw-away servers, as the test
suite starts them), one process, wrk with 8 connections for a few seconds on GET /count, with the
recipe's lock and with it removed (web.session.Session instead of LockedSession), in two cases:
all 8 connections on one session (the worst case: every request waits for the one before), and
1,000 sessions, one at random for each request (requests of one session rarely overlap: what the
lock itself costs).
Prints requests/s, the 99th percentile latency, and how many answered requests the counts show.
"""
import os
import platform
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))  # the harness package, tests/harness/ (no test module)
from harness import RECIPES  # noqa: E402
from harness.copies import Change, recipe_copy  # noqa: E402
from harness.processes import start_recipe  # noqa: E402
from harness.services import Services  # noqa: E402

SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "5"))
APP = RECIPES / "locking" / "app.py"
SESSIONS = [1, 1000]
# wrk sends one of the sessions' cookies (COOKIES: comma-separated), chosen at random, with each request.
RANDOM_COOKIE = """
cookies = {}
for cookie in string.gmatch(os.getenv("COOKIES"), "[^,]+") do table.insert(cookies, cookie) end
request = function()
  return wrk.format(nil, nil, {Cookie = cookies[math.random(#cookies)]})
end
"""
STORES = {
    "disk": lambda services: {},
    "postgres": lambda services: dict(services.cookbook_database(), SESSION_STORE="postgres"),
    "redis": lambda services: dict(services.environment(["redis"]), SESSION_STORE="redis"),
}


def unlocked(workdir):
    """A copy of the recipe in workdir/unlocked/ with web.py's Session instead of LockedSession."""
    return recipe_copy("locking", Path(workdir) / "unlocked",
                       Change("the session lock", "session = LockedSession(", "session = web.session.Session("))


def measure(app, env, sessions, workdir):
    server = start_recipe(app, workdir, env)
    try:
        url = f"http://127.0.0.1:{server.port}/count"
        cookies = [urllib.request.urlopen(url).headers["Set-Cookie"].split(";")[0] for _ in range(sessions)]
        script = Path(workdir) / "turns.lua"
        script.write_text(RANDOM_COOKIE)
        output = subprocess.run(["wrk", "-t2", "-c8", f"-d{SECONDS}s", "--latency", "-s", str(script), url],
                                env=dict(os.environ, COOKIES=",".join(cookies)),
                                check=True, capture_output=True, text=True).stdout
        counted = sum(int(urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": cookie})).read()) - 2
                      for cookie in cookies)  # minus the first and this last visit
    finally:
        server.stop()
    answered = int(re.search(r"(\d+) requests in", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p99": re.search(r"99%\s+([\d.]+\w+)", output).group(1),
        "answered": answered,
        "errors": int(errors.group(1)) if errors else 0,
        "counted": counted,
    }


def machine():
    model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()) if Path("/proc/cpuinfo").exists() else None
    return f"{os.cpu_count()} CPUs ({model.group(1) if model else platform.machine()}), Python {platform.python_version()}, {platform.platform()}"


def main():
    services = Services()
    rows = [("store", "sessions", "lock", "req/s", "p99", "answered", "non-2xx", "counted", "lost")]
    try:
        for store, environment in STORES.items():
            for sessions in SESSIONS:
                for lock in ["yes", "no"]:
                    print(f"measuring {store}, {sessions} session(s), lock: {lock} ...", file=sys.stderr, flush=True)
                    with tempfile.TemporaryDirectory() as workdir:
                        app = APP if lock == "yes" else unlocked(workdir)
                        result = measure(app, environment(services), sessions, workdir)
                    lost = max(0, result["answered"] - result["errors"] - result["counted"])
                    rows.append((store, str(sessions), lock, f"{result['requests_per_second']:.0f}", result["p99"],
                                 str(result["answered"]), str(result["errors"]), str(result["counted"]),
                                 f"{lost / result['answered']:.0%}"))
    finally:
        services.stop()
    print(f"{machine()}; wrk -t2 -c8 -d{SECONDS}s, one recipe process")
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))


if __name__ == "__main__":
    main()
