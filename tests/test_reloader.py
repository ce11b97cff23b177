"""What the reloader page says about web.py 0.76's debug mode beyond its transcripts."""
import http.cookiejar
import os
import re
import shutil
import time
import urllib.error
import urllib.request

import pytest

from harness import RECIPES, start_recipe

GUARD = re.compile(r"^if web\.config\.get\(\"_session\"\) is None:\n.*?^session = web\.config\._session\n",
                   re.MULTILINE | re.DOTALL)
# The server log's traceback: its "File ..." and source lines are indented, its last line is the error.
TRACEBACK_ENDING_IN_THE_ERROR = re.compile(
    r"^Traceback \(most recent call last\):\n(?:  .*\n)+AttributeError: 'ThreadedDict' object has no attribute 'count'\n",
    re.MULTILINE)
PLAIN_SESSION = 'session = web.session.Session(app, web.session.DiskStore("sessions"), initializer={"count": 0})\n'


def copy_of(slug, tmp_path):
    return shutil.copytree(RECIPES / slug, tmp_path / "myapp")


def edit(path, old, new):
    source = path.read_text()
    assert old in source, f"{old!r} is no longer in {path.name}"
    path.write_text(source.replace(old, new))


class Visitor:
    """One client with a cookie jar, as curl -b jar -c jar."""

    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path="/count"):
        try:
            return self.opener.open(self.url + path, timeout=10).read().decode()
        except urllib.error.HTTPError as error:
            return error.code


@pytest.fixture
def running():
    """Start a copy of a recipe; stop it at the end of the test."""
    servers = []

    def start(app, env=None):
        servers.append(start_recipe(app, app.parent.parent, env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_debug_mode_runs_the_main_file_again_as_a_module_that_handles_requests(tmp_path, running):
    app = copy_of("count", tmp_path) / "app.py"
    edit(app, "web.config.debug = False", "")
    edit(app, '"""\nimport web\n', '"""\nprint("running as", __name__, flush=True)\nimport web\n')
    edit(app, "        session.count += 1", '        print("handled by", __name__, flush=True)\n        session.count += 1')
    server = running(app)
    assert server.log().startswith("running as __main__\nrunning as app\nhttp://")
    assert Visitor(server.port).get() == 500
    assert "\nhandled by app\n" in server.log()
    assert TRACEBACK_ENDING_IN_THE_ERROR.search(server.log()), server.log()


def test_without_the_guard_the_first_edit_breaks_the_session(tmp_path, running):
    counter = copy_of("reloader", tmp_path) / "counter.py"
    unguarded, replaced = GUARD.subn(PLAIN_SESSION, counter.read_text())
    assert replaced == 1
    counter.write_text(unguarded)
    server = running(counter.with_name("app.py"))
    visitor = Visitor(server.port)
    assert [visitor.get(), visitor.get()] == ["1", "2"]
    edit(counter, "return str(session.count)", 'return f"Visits: {session.count}"')
    assert visitor.get() == 500
    assert "AttributeError: 'ThreadedDict' object has no attribute 'count'" in server.log()


def test_an_edit_before_the_first_request_waits_for_the_next_change(tmp_path, running):
    """The reloader remembers each file's modification time at the first request after start."""
    counter = copy_of("reloader", tmp_path) / "counter.py"
    server = running(counter.with_name("app.py"))
    edit(counter, "return str(session.count)", 'return f"Visits: {session.count}"')
    visitor = Visitor(server.port)
    assert [visitor.get(), visitor.get()] == ["1", "2"], "the edit made before the first request is not seen"
    time.sleep(0.05)  # file times may move in steps of a few milliseconds
    counter.touch()
    assert visitor.get() == "Visits: 3"


def test_a_same_size_edit_in_the_same_second_runs_the_old_bytecode(tmp_path, running):
    """Python reuses __pycache__ when the source's size and whole-second modification time match."""
    counter = copy_of("reloader", tmp_path) / "counter.py"
    second = int(time.time()) - 60
    os.utime(counter, (second + 0.1, second + 0.1))
    server = running(counter.with_name("app.py"), {"PYTHONDONTWRITEBYTECODE": ""})  # as on a reader's machine
    assert list((counter.parent / "__pycache__").glob("counter.*.pyc"))
    visitor = Visitor(server.port)
    assert visitor.get() == "1"
    edit(counter, "session.count += 1", "session.count += 5")
    os.utime(counter, (second + 0.6, second + 0.6))  # changed for web.py, not for Python's cache
    assert visitor.get() == "2", "web.py reloaded counter.py, and Python ran its old bytecode"
    counter.touch()
    assert visitor.get() == "7"


def test_with_debug_off_the_same_counter_counts_and_edits_wait_for_a_restart(tmp_path, running):
    app = copy_of("reloader", tmp_path) / "app.py"
    edit(app, "web.config.debug = True", "web.config.debug = False")
    server = running(app)
    visitor = Visitor(server.port)
    assert [visitor.get(), visitor.get()] == ["1", "2"]
    edit(app.with_name("counter.py"), "return str(session.count)", 'return f"Visits: {session.count}"')
    assert visitor.get() == "3"
