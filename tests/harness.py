"""The cookbook's one test harness: pages are tests.

A ``console`` block on a page is a transcript. Each ``$ `` line is run by bash
in the page's own temporary working directory, with real curl; the lines after
it are the output the reader sees, compared exactly, except that ``...``
stands for some text (ids, dates). The documented port 8080 is rewritten to a free one.

A line ``$ [NAME=value ...] python recipes/<slug>/app.py 8080`` starts the
recipe as a real server in the background (stopping the one before on that
port), waits until it answers and compares what it printed on start. So does
``python <folder>/app.py 8080`` for a copy a page made (``cp -r recipes/<slug> myapp``):
transcripts never change the repository's recipes. Ports 8081 to 8089 start
more processes beside it, and ``nginx -p "$PWD" -e stderr -c <file>.conf``
starts nginx in front of them (on a copy of the file, its ports made real).

Files (cookie jars, ``sessions/``) live in the working directory until the page
ends, so a page reads as one continuous session.

A page's front matter names the servers it needs (``services: [postgres]``);
its transcripts get exactly the variables that ``extra.services`` in mkdocs.yml
lists for them, which the site shows at the top of the page, and no other.
"""

import doctest
import fcntl
import glob
import importlib.util
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import yaml
from sybil import Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.parsers.abstract.doctest import DocTestStringParser
from sybil.parsers.markdown import CodeBlockParser

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
# Ports a page may name: 8080 for its recipe, 8081-8089 for more processes; each gets a free one.
DOC_PORT = re.compile(r"\b808\d\b")
START_LINE = re.compile(r"""(\w+=('[^']*'|"[^"]*"|\S*)\s+)*python3? ([\w.-]+/)*app\.py (?P<port>808\d)""")
NGINX_LINE = re.compile(r"""nginx -p "\$PWD" -e stderr -c (?P<config>\S+\.conf)""")
NGINX_LISTEN = re.compile(r"^\s*listen\s+(?:[\d.]+:)?(?P<port>808\d)\b", re.MULTILINE)
COMMAND_TIMEOUT = 30
# Bold, colours and curl's hyperlinks (OSC 8) on a terminal: not part of the text.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

#: Transcript blocks of docs/ that ran and matched, by language ("en" or "fr").
transcripts_run = Counter()
#: Figures of the reliability tests (requests tried, errors, lost updates...), printed at the end of the run.
reliability_figures = Counter()


def language(path):
    return "fr" if str(path).endswith(".fr.md") else "en"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def front_matter(text):
    """The YAML header of a page, or {}."""
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    return yaml.safe_load(match.group(1)) if match else {}


class RecipeExited(AssertionError):
    """The recipe stopped before it answered: its output says why."""

    def __init__(self, returncode, output):
        super().__init__(f"the recipe exited with {returncode}\n{output}")
        self.output = output


class Recipe:
    """A recipe running as a real server process, its output kept in a log."""

    def __init__(self, command, cwd, env, port):
        self.port = port
        self.log_path = Path(cwd) / f"server-{port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", command], cwd=cwd, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_until_listening()

    def _wait_until_listening(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RecipeExited(self.process.returncode, self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the recipe did not answer on port {self.port}\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class SiteConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring MkDocs' own tags (!relative, !!python/name:...)."""


SiteConfigLoader.add_multi_constructor("", lambda loader, suffix, node: None)
SITE_CONFIG = yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), SiteConfigLoader)
#: Server name -> what the site says of it: {"name": ..., "variables": [...]}.
SERVICES = SITE_CONFIG["extra"]["services"]


def stated_only(environ):
    """The environment without the server variables a page has not stated (a reader's PGDATABASE...)."""
    unstated = {variable for service in SERVICES.values() for variable in service["variables"]}
    return {name: value for name, value in environ.items()
            if name not in unstated and not name.startswith("PG") and name != "DATABASE_URL"}


def python_env(extra=None):
    """The environment recipes and transcripts run in: this interpreter first on PATH."""
    env = dict(stated_only(os.environ), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra or {})
    return env


def start_recipe(app, cwd, extra_env=None):
    """Start ``python <app> 127.0.0.1:<free port>`` in cwd, as tests outside pages do."""
    port = free_port()
    return Recipe(f"python {app} 127.0.0.1:{port}", cwd, python_env(extra_env), port)


def fetch(port, path, headers=None):
    """GET http://127.0.0.1:<port><path>: (status, body), error statuses included."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


#: What a first visit asks of a recipe that has no ``GET /count`` (tests of every recipe use it).
ENTRY_PAGES = {
    "expiry": "/whoami",
    "login": "/whoami",
    "cart": "/cart",
    "template": "/",
    "flash": "/",
    "csrf": "/form",
}
#: The session cookie's name where a recipe changes web.py's `webpy_session_id`.
COOKIE_NAMES = {"cookies": "__Host-sid"}


def entry_page(slug):
    return ENTRY_PAGES.get(slug, "/count")


def count_at_once(port, requests=40, workers=10):
    """Send `requests` overlapping GET /count with one new session's cookie; return how many counted."""
    url = f"http://127.0.0.1:{port}/count"
    cookie = urllib.request.urlopen(url, timeout=10).headers["Set-Cookie"].split(";")[0]
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda _: urllib.request.urlopen(request, timeout=10).read(), range(requests)))
    return int(urllib.request.urlopen(request, timeout=10).read()) - 2  # minus the first and last visits


def counted_at_once(app, cwd, requests=40):
    """count_at_once on a new server process of the recipe app.py, stopped afterwards."""
    server = start_recipe(app, cwd)
    try:
        return count_at_once(server.port, requests=requests)
    finally:
        server.stop()


def recorded_calls(monkeypatch, cls, method, name_of):
    """A list that gets ``name_of(*args)`` of every call of ``cls.method`` from now on."""
    log, original = [], getattr(cls, method)

    def recorded(self, *args, **kwargs):
        log.append(name_of(*args))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, recorded)
    return log


def session_cookie(response):
    """The Cookie header that sends back the session an ``app.request()`` response set."""
    return {"Cookie": dict(response.header_items)["Set-Cookie"].split(";")[0]}


#: The leading number of a table row's second cell: how a page states a count per kind of request.
TABLE_COUNT = re.compile(r"^ *\| [^|]+ \| (\d+)\b", re.MULTILINE)


def table_counts(page):
    """The counts a page's table states, row by row (the page has one such table)."""
    return [int(count) for count in TABLE_COUNT.findall(Path(page).read_text(encoding="utf-8"))]


def lengths_after_appending(app, session, visits=4):
    """The length of a list in the session after each visit of a handler that appends to it in place."""
    class append:
        def GET(self):
            session.setdefault("cart", []).append("tea")
            return str(len(session.cart))

    app.add_mapping("/append", append)
    first = app.request("/append")
    return [int(first.data)] + [int(app.request("/append", headers=session_cookie(first)).data)
                                for _ in range(visits - 1)]


def store_calls_by_request(app, log):
    """What the store did, as ``log`` records it, for each kind of request to a ``/count`` recipe."""
    def calls(path, headers={}):
        log.clear()
        response = app.request(path, headers=headers)
        return response, list(log)

    first, first_calls = calls("/count")  # a process's first request: the cleanup, then a new visitor
    returning = session_cookie(first)
    return {"first": first_calls, "returning": calls("/count", returning)[1],
            "unchanged": calls("/nowhere", returning)[1], "new": calls("/count")[1],
            "reset": calls("/reset", returning)[1]}


def import_recipe(slug):
    """Import recipes/<slug>/app.py as a fresh module, to drive it with ``app.request()``."""
    spec = importlib.util.spec_from_file_location(f"recipe_{slug}", RECIPES / slug / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nginx_binary():
    return shutil.which("nginx") or next(iter(glob.glob("/usr/sbin/nginx")), None)


class Page:
    """What one page's transcripts share: a working directory, its ports, its servers."""

    def __init__(self, path, services):
        self.meta = front_matter(Path(path).read_text())
        # A page about the cookbook itself (`cwd: clone`) runs its commands in the clone, as its
        # reader does; they must leave it as it was. Other pages get a directory of their own.
        self.temporary = self.meta.get("cwd") != "clone"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"cookbook-{Path(path).stem}-")) if self.temporary else REPO
        if self.temporary:
            # Pages say `recipes/<slug>/app.py`, as typed from a clone of the cookbook.
            (self.workdir / "recipes").symlink_to(RECIPES)
        self.ports = {}  # documented port -> the free port it stands for
        self.env = python_env(services.environment(self.meta.get("services", [])))
        self.servers = {}  # documented port -> the Recipe process listening there

    def real_port(self, documented):
        return self.ports.setdefault(documented, free_port())

    def with_real_ports(self, text):
        return DOC_PORT.sub(lambda match: str(self.real_port(match.group())), text)

    def run(self, command):
        """Run one transcript command, return what the reader would see."""
        recipe, nginx = START_LINE.fullmatch(command), NGINX_LINE.fullmatch(command)
        if recipe:
            output = self.start(recipe["port"], self.with_real_ports(command))
        elif nginx:
            output = self.start_nginx(nginx["config"])
        else:
            output = run_in_terminal(self.with_real_ports(command), self.workdir, self.env)
        for documented, real in self.ports.items():
            output = output.replace(str(real), documented)
        return output

    def start(self, documented, command):
        """(Re)start the server on a documented port; return what it printed on start, or why it stopped."""
        self.stop(documented)
        try:
            self.servers[documented] = Recipe(command, self.workdir, self.env, self.real_port(documented))
        except RecipeExited as exited:
            return exited.output
        return self.servers[documented].log().split("\n")[0]  # request logs come after this line

    def start_nginx(self, config):
        """Start nginx in the foreground on a copy of the page's config, its ports made real."""
        text = (self.workdir / config).read_text()
        listen = NGINX_LISTEN.search(text)
        assert listen, f"{config} has no `listen 808x` line"
        copy = self.workdir / f"nginx-{listen['port']}.conf"
        copy.write_text(self.with_real_ports(text))
        return self.start(listen["port"], f"{nginx_binary()} -p \"$PWD\" -e stderr -c {copy.name} -g 'daemon off;'")

    def server_log(self):
        logs = [f"[{port}] {server.log()}" for port, server in sorted(self.servers.items())]
        return "\n".join(logs) or "(no server was started on this page)"

    def stop(self, documented=None):
        """Stop the server on one documented port, or all of them."""
        for port in [documented] if documented else list(self.servers):
            server = self.servers.pop(port, None)
            if server:
                server.stop()

    def close(self):
        self.stop()
        if self.temporary:
            shutil.rmtree(self.workdir, ignore_errors=True)


def run_in_terminal(command, cwd, env):
    """Run a command in bash on a pseudo-terminal, as a reader would, and return what it printed.

    On a terminal curl shows no progress meter and tools print what a reader sees.
    """
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=dict(env, TERM="dumb"),
                               stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    output = b""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: every writer has exited
            chunk = b""
        if not chunk:
            break
        output += chunk
    os.close(controller)
    try:
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        output += f"\n[harness: still running after {COMMAND_TIMEOUT}s, killed]".encode()
    # The terminal ends lines with \r\n, and HTTP headers bring a \r of their own.
    return ANSI_ESCAPE.sub("", re.sub(r"\r+\n", "\n", output.decode(errors="replace")))


def parse_transcript(source):
    """Split a console block into (command, expected output) pairs."""
    steps = []
    for line in source.splitlines():
        if line.startswith("$ "):
            steps.append([line[2:], []])
        elif steps and not steps[-1][1] and steps[-1][0].endswith("\\"):
            steps[-1][0] += "\n" + line  # continuation of a long command
        elif steps:
            steps[-1][1].append(line)
        else:
            raise ValueError(f"a console block must start with a `$ ` command, not {line!r}")
    return [(command, "\n".join(output)) for command, output in steps]


def matches(expected, actual):
    """Exact match of the trimmed outputs, line by line, with two wildcards.

    ``...`` inside a line stands for some text within that line; a line holding only ``...``
    stands for any number of whole lines, so a page says where it leaves lines out.
    """
    pattern = []
    for line in _trim(expected).split("\n"):
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append("[^\n]+?".join(re.escape(part) for part in line.split("...")) + "\n")
    return re.fullmatch("".join(pattern), _trim(actual) + "\n") is not None


def _trim(text):
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


class ConsoleParser(CodeBlockParser):
    """``console`` blocks: transcripts run against the page's recipe."""

    language = "console"

    def evaluate(self, example):
        page = example.namespace.get("page")
        if page is None:
            page = example.namespace["page"] = Page(example.path, example.namespace["services"])
        for command, expected in parse_transcript(example.parsed):
            actual = page.run(command)
            if not matches(expected, actual):
                raise AssertionError(
                    f"$ {command}\n--- expected\n{expected}\n--- got\n{_trim(actual)}\n"
                    f"--- server log\n{page.server_log()}")
        if Path(example.path).is_relative_to(REPO / "docs"):
            transcripts_run[language(example.path)] += 1


class PyconParser:
    """``pycon`` blocks: Python sessions run as doctests."""

    def __init__(self):
        self.blocks = CodeBlockParser("pycon")
        self.doctests = DocTestStringParser(DocTestEvaluator(doctest.ELLIPSIS))

    def __call__(self, document):
        for block in self.blocks(document):
            for region in self.doctests(block.parsed, document.path):
                region.adjust(block, block.parsed)
                yield region


def page_tests(**options):
    """The Sybil that reads pages: transcripts and Python sessions."""
    return Sybil(parsers=[ConsoleParser(), PyconParser()], teardown=close_page, **options)


def close_page(namespace):
    """Sybil teardown: stop the page's server and remove its working directory."""
    if "page" in namespace:
        namespace.pop("page").close()


class Services:
    """Throw-away PostgreSQL and Redis servers, started on first use, one each per run."""

    def __init__(self):
        self.started = {}
        self.stoppers = []

    def environment(self, names):
        """The stated variables of the named servers, started if need be and emptied for the caller.

        PostgreSQL is emptied of the `cookbook` database that pages create; Redis of every key.
        """
        env = {}
        for name in names:
            if name not in SERVICES:
                raise ValueError(f"unknown service {name!r}: mkdocs.yml's extra.services has {sorted(SERVICES)}")
            if name not in self.started:
                self.started[name] = getattr(self, "_start_" + name)()
            assert sorted(self.started[name]) == sorted(SERVICES[name]["variables"]), name
            env.update(self.started[name])
        if "postgres" in names:
            self.database.drop()
        if "redis" in names:
            redis.Redis.from_url(env["REDIS_URL"]).flushall()
        return env

    def cookbook_database(self):
        """An empty `cookbook` database, as a page makes it, and a DATABASE_URL naming it."""
        env = self.environment(["postgres"])
        subprocess.run(["createdb", "cookbook"], env=python_env(env), check=True)
        return dict(env, DATABASE_URL="postgres:///cookbook")

    @contextmanager
    def postgres_stopped(self):
        """PostgreSQL stopped for the block, then started again on the same port and data directory."""
        self.postgres_server.stop()
        try:
            yield
        finally:
            self.postgres_server.start()

    @staticmethod
    def missing(what, install):
        message = f"{what} is not installed: {install}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    def _start_postgres(self):
        from pytest_postgresql.executors.proc import PostgreSQLExecutor
        from pytest_postgresql.janitor import DatabaseJanitor

        pg_ctl = shutil.which("pg_ctl") or max(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), default=None)
        if not pg_ctl:
            self.missing("PostgreSQL", "apt-get install postgresql (macOS: brew install postgresql)")
        base = Path(tempfile.mkdtemp(prefix="cookbook-pg-"))
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: run the cluster as `postgres`.
            shutil.chown(base, "postgres")
            wrapper = base / "pg_ctl"
            wrapper.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{pg_ctl}" "$@"\n')
            wrapper.chmod(0o755)
            pg_ctl = str(wrapper)
        port = free_port()
        server = PostgreSQLExecutor(
            executable=pg_ctl, host="127.0.0.1", port=port, datadir=str(base / "data"),
            unixsocketdir=str(base), logfile=str(base / "postgres.log"), startparams="-w",
            dbname="cookbook")
        server.start()
        self.postgres_server = server
        self.stoppers.append(lambda: (server.stop(), shutil.rmtree(base, ignore_errors=True)))
        self.database = DatabaseJanitor(user="postgres", host="127.0.0.1", port=port, dbname="cookbook")
        return {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "postgres"}

    def _start_nginx(self):
        """nginx itself is started by the page (its config is the recipe's): just find it."""
        if not nginx_binary():
            self.missing("nginx", "apt-get install nginx (macOS: brew install nginx)")
        return {}

    def _start_redis(self):
        from pytest_redis.executor import RedisExecutor

        redis_server = shutil.which("redis-server")
        if not redis_server:
            self.missing("Redis", "apt-get install redis-server (macOS: brew install redis)")
        base = Path(tempfile.mkdtemp(prefix="cookbook-redis-"))
        port = free_port()
        server = RedisExecutor(redis_server, databases=16, redis_timeout=30, loglevel="notice",
                               host="127.0.0.1", port=port, datadir=base)
        server.start()
        self.stoppers.append(lambda: (server.stop(), shutil.rmtree(base, ignore_errors=True)))
        return {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}

    def stop(self):
        while self.stoppers:
            self.stoppers.pop()()
