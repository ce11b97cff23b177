"""Collect every page of docs/ as tests (see tests/harness/), the fixtures every test may use, and
the report at the end of a run."""
import copy
import sys

# pytest rewrites each test module for its assertions and keeps the result in __pycache__, unless
# PYTHONDONTWRITEBYTECODE is set (as on some machines): then every worker rewrites them all again,
# about two seconds of processor each. Recipes started as processes still write nothing.
sys.dont_write_bytecode = False

from collections import defaultdict
from pathlib import Path

import pytest
import web
from psycopg_pool import ConnectionPool

from harness import REPO
from harness.other_site import OtherSite
from harness.processes import fork_recipes, start_recipe
from harness.report import reliability_figures, transcripts_run
from harness.services import Services
from harness.transcripts import page_tests

fork_recipes()  # a test's recipe starts in a tenth of the processor time (harness/processes.py says how)
pytest_plugins = ["harness.built_site", "harness.browser"]  # fixtures: the built site, served; a browser

pytest_collect_file = page_tests(path=str(REPO / "docs"), patterns=["*.md"], fixtures=["services"]).pytest()


@pytest.fixture(scope="session")
def services():
    running = Services()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def web_config_as_it_was():
    """web.config and its session_parameters after each test as before it: a recipe imported by a
    test sets them, and the next test must not inherit its settings. Recipe modules are forgotten,
    their connection pools closed."""
    config, parameters = dict(web.config), copy.deepcopy(dict(web.config.session_parameters))
    yield
    web.config.clear()
    web.config.update(config)
    web.config.session_parameters.clear()
    web.config.session_parameters.update(parameters)
    for name in [name for name in sys.modules if name.startswith("recipe_")]:
        close_pools(sys.modules.pop(name))


def close_pools(module):
    """The connection pools a recipe imported by a test opened, closed: their connections must not
    outlive the test (a later test empties the `cookbook` database, which no one may be using)."""
    for value in list(vars(module).values()):
        try:
            candidates = [value, getattr(value, "pool", None)]
        except Exception:  # an object whose attributes need a request, say
            continue
        for candidate in candidates:
            if isinstance(candidate, ConnectionPool):
                candidate.close()


@pytest.fixture
def recipe_server(tmp_path):
    """recipe_server(app, env=None, cwd=tmp_path) -> a BackgroundServer running `app`, stopped after the test."""
    servers = []

    def recipe_server(app, env=None, cwd=None):
        servers.append(start_recipe(app, cwd or tmp_path, env))
        return servers[-1]

    yield recipe_server
    for server in servers:
        server.stop()


@pytest.fixture
def other_site():
    """other_site(host, address=None) -> OtherSite, closed after the test."""
    sites = []

    def other_site(host, address=None):
        sites.append(OtherSite(host, address))
        return sites[-1]

    yield other_site
    for site in sites:
        site.close()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """No more workers than the files named on the command line, and none for one file: a file
    runs whole in one worker, so the others would only start and wait."""
    files = {arg.split("::")[0] for arg in config.args}
    if config.args and all(Path(file).is_file() for file in files) and isinstance(config.option.numprocesses, int):
        config.option.numprocesses = min(config.option.numprocesses, len(files)) if len(files) > 1 else 0


#: The files that run longest, started first: begun last, one of them would keep one worker busy
#: alone at the end of the run. A run orders files by the seconds each took in the last run that
#: ran it (pytest's cache); a fresh clone by this list (seconds measured with six workers on 2
#: cores), then the rest in their order.
LONGEST_FIRST = [
    "tests/test_csrf.py",  # 129: Chromium's two minutes of Lax-allowing-unsafe, waited for
    "tests/test_resilience.py",  # 104: PostgreSQL outages, waited out
    "tests/test_redis.py",  # 77: a Sentinel failover
    "tests/test_browser_every_page.py",  # 56
    "tests/test_postgres.py",  # 55
    "tests/test_login.py",  # 52: a scrypt hash for every login
    "tests/test_locking.py",  # 37
    "tests/test_site.py",  # 33: the site's build, then its pages read
    "tests/test_cookies.py",  # 32
    "tests/test_cleanup.py",  # 28
    "tests/test_together.py",  # 27
    "tests/test_reading.py",  # 27
    "tests/test_reliability_concurrency.py",  # 23
    "tests/test_reliability_sigkill.py",  # 22
    "tests/test_bad_cookies.py",  # 22
    "tests/test_browser.py",  # 19
    "tests/test_testing.py",  # 19
    "tests/test_reliability_disk.py",  # 19
    "tests/test_reliability_load.py",  # 16: a 10-second load
    "docs/reliability/locking.md",  # 15
    "docs/production/redis.md",  # 14
    "docs/production/redis.fr.md",  # 14
    "docs/reliability/locking.fr.md",  # 14
    "docs/everyday/cart.fr.md",  # 13
    "tests/test_stores.py",  # 13
]
seconds_by_file = defaultdict(float)


def seconds_key(config):
    """Where the cache keeps each file's seconds: one record per selection of markers (a file's
    `make check` seconds are not its `make test` seconds)."""
    return "cookbook/seconds_by_file/" + (config.option.markexpr or "all").replace(" ", "_")


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, with --no-loadscope-reorder, files are handed out in this order."""
    cache = getattr(config, "cache", None)
    measured = cache.get(seconds_key(config), {}) if cache else {}
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    if measured:
        items.sort(key=lambda item: -measured.get(item.location[0], 0.0))
    else:
        items.sort(key=lambda item: rank.get(item.location[0], len(rank)))


def pytest_runtest_logreport(report):
    seconds_by_file[report.nodeid.split("::")[0]] += report.duration


def pytest_sessionfinish(session):
    """Under pytest-xdist, a worker hands its transcript counts and reliability figures to the
    controller; the controller (or a run without workers) keeps each file's seconds for the next run."""
    if not hasattr(session.config, "workeroutput") and getattr(session.config, "cache", None) and seconds_by_file:
        key = seconds_key(session.config)
        session.config.cache.set(key, dict(session.config.cache.get(key, {}), **{path: round(seconds, 2)
                                                                 for path, seconds in seconds_by_file.items()}))
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["transcripts_run"] = dict(transcripts_run)
        session.config.workeroutput["reliability_figures"] = dict(reliability_figures)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    transcripts_run.update(getattr(node, "workeroutput", {}).get("transcripts_run", {}))
    reliability_figures.update(getattr(node, "workeroutput", {}).get("reliability_figures", {}))


def pytest_terminal_summary(terminalreporter):
    seconds = defaultdict(float)
    for reports in terminalreporter.stats.values():
        for report in reports:
            path = getattr(report, "location", ("",))[0]
            if path.endswith((".md", ".ipynb")):
                seconds[path] += getattr(report, "duration", 0.0)
    write = terminalreporter.write_line
    write(f"transcripts run: {transcripts_run['en']} in English, {transcripts_run['fr']} in French")
    if seconds:
        write("slowest pages:")
        for path, total in sorted(seconds.items(), key=lambda item: -item[1])[:5]:
            write(f"  {total:6.2f}s  {path}")
    if reliability_figures:
        write("reliability figures:")
        for name, value in sorted(reliability_figures.items()):
            write(f"  {name}: {value:g}")
