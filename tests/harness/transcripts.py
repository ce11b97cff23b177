"""The cookbook's one test harness: pages are tests.

A ``console`` block on a page is a transcript. Each ``$ `` line is run by bash
in the page's own temporary working directory, with real curl; the lines after
it are the output the reader sees, compared exactly, except that ``...``
stands for some text (ids, dates). The documented ports are rewritten to free ones: 8080 to 8089,
and Redis's 6380 to 6389 and 26380 to 26389 (servers a page starts itself).

A line ``$ [NAME=value ...] python recipes/<slug>/app.py 8080`` starts the
recipe as a real server in the background (stopping the one before on that
port), waits until it answers and compares what it printed on start. So does
``python <folder>/app.py 8080`` for a copy a page made (``cp -r recipes/<slug> myapp``):
transcripts never change the repository's recipes. Ports 8081 to 8089 start
more processes beside it, and ``nginx -p "$PWD" -e stderr -c <file>.conf``
starts nginx in front of them (on a copy of the file, its ports made real).

Files (cookie jars, ``sessions/``) live in the working directory until the page
ends, so a page reads as one continuous session. A server the page starts as a
daemon (``redis-server --daemonize yes``) is stopped when the page ends.

A page's front matter names the servers it needs (``services: [postgres]``);
its transcripts get exactly the variables that ``extra.services`` in mkdocs.yml
lists for them, which the site shows at the top of the page, and no other.
"""

import doctest
import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import tempfile
import termios
import time
from pathlib import Path

from sybil import Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.parsers.abstract.doctest import DocTestStringParser
from sybil.parsers.abstract import AbstractCodeBlockParser
from sybil.parsers.markdown import CodeBlockParser
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

from harness import RECIPES, REPO
from harness.downloads import python_with_only, unpack_download
from harness.processes import (BackgroundServer, RecipeExited, free_port, nginx_binary, port_is_free,
                               kill_processes_in, python_env)
from harness.report import transcripts_run
from harness.site import front_matter, language

# Ports a page may name: 8080 for its recipe, 8081-8089 for more processes, 6380-6389 and 26380-26389
# for Redis servers and Sentinels it starts itself; each gets a free one.
DOC_PORT = re.compile(r"\b(?:808|2?638)\d\b")
START_LINE = re.compile(r"""(\w+=('[^']*'|"[^"]*"|\S*)\s+)*python3? ([\w.-]+/)*app\.py (?P<port>808\d)""")
NGINX_LINE = re.compile(r"""nginx -p "\$PWD" -e stderr -c (?P<config>\S+\.conf)""")
NGINX_LISTEN = re.compile(r"^\s*listen\s+(?:[\d.]+:)?(?P<port>808\d)\b", re.MULTILINE)
COMMAND_TIMEOUT = 30
# Bold, colours and curl's hyperlinks (OSC 8) on a terminal: not part of the text.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


class Page:
    """What one page's transcripts share: a working directory, its ports, its servers."""

    def __init__(self, path, services):
        self.meta = front_matter(Path(path).read_text())
        # A page about the cookbook itself (`cwd: clone`) runs its commands in the clone, as its
        # reader does; they must leave it as it was. Other pages get a directory of their own.
        self.temporary = self.meta.get("cwd") != "clone"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"cookbook-{Path(path).stem}-")) if self.temporary else REPO
        self.ports = {}  # documented port -> the free port it stands for
        self.env = python_env(services.environment(self.meta.get("services", [])))
        if self.temporary and "recipe" in self.meta:
            # A recipe page runs in its download, with a Python that has only the packages it names.
            unpack_download(path, self.workdir)
            python = python_with_only((self.workdir / "requirements.txt").read_text(encoding="utf-8"))
            self.env["PATH"] = os.pathsep.join([str(python), self.env["PATH"]])
        elif self.temporary:
            # Pages say `recipes/<slug>/app.py`, as typed from a clone of the cookbook.
            (self.workdir / "recipes").symlink_to(RECIPES)
        self.servers = {}  # documented port -> the BackgroundServer listening there

    def real_port(self, documented):
        return self.ports.setdefault(documented, free_port())

    def free_real_port(self, documented):
        """The documented port's real one, for a server about to start there: another, still free,
        if something else on the machine took it meanwhile (a server of another test or program)."""
        if documented in self.ports and not port_is_free(self.ports[documented]):
            self.ports[documented] = free_port()
        return self.real_port(documented)

    def with_real_ports(self, text):
        return DOC_PORT.sub(lambda match: str(self.real_port(match.group())), text)

    def run(self, command):
        """Run one transcript command, return what the reader would see."""
        recipe, nginx = START_LINE.fullmatch(command), NGINX_LINE.fullmatch(command)
        if recipe:
            output = self.start_recipe(recipe["port"], command)
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
            self.servers[documented] = BackgroundServer(command, self.workdir, self.env, self.real_port(documented))
        except RecipeExited as exited:
            return exited.output
        return self.servers[documented].log().split("\n")[0]  # request logs come after this line

    def start_recipe(self, documented, command, tries=3):
        """Start a recipe on a documented port: on another free one if the real one is taken, and
        again on a new one if another program took it between the choice and the server's bind."""
        self.stop(documented)
        self.free_real_port(documented)
        output = self.start(documented, self.with_real_ports(command))
        if "Address already in use" in output and documented not in self.servers and tries > 1:
            self.ports[documented] = free_port()
            return self.start_recipe(documented, command, tries - 1)
        return output

    def start_nginx(self, config):
        """Start nginx in the foreground on a copy of the page's config, its ports made real."""
        text = (self.workdir / config).read_text()
        listen = NGINX_LISTEN.search(text)
        assert listen, f"{config} has no `listen 808x` line"
        self.stop(listen["port"])
        self.free_real_port(listen["port"])
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
            kill_processes_in(self.workdir)  # daemons the page started, dead before the page ends
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


# ```console, or ```console title="Terminal 1: the server": a title names the reader's terminal.
CONSOLE_INFO = re.compile(r'(?P<language>console)(?:[ \t]+title="[^"\n]*")?[ \t]*$\n', re.MULTILINE)


class ConsoleParser(AbstractCodeBlockParser):
    """``console`` blocks, titled or not: transcripts run against the page's recipe."""

    language = "console"

    def __init__(self):
        super().__init__([RawFencedCodeBlockLexer(CONSOLE_INFO, {"language": "arguments", "source": "source"})])

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
