"""What the reloader page says about web.py 0.76's debug mode beyond its transcripts."""
import os
import re
import subprocess
import sys
import time

import pytest

from harness.client import Visitor
from harness.copies import Change, changed, recipe_copy, unchanged_copy
from harness.processes import python_env

# The server log's traceback: its "File ..." and source lines are indented, its last line is the error.
TRACEBACK_ENDING_IN_THE_ERROR = re.compile(
    r"^Traceback \(most recent call last\):\n(?:  .*\n)+AttributeError: 'ThreadedDict' object has no attribute 'count'\n",
    re.MULTILINE)
DEBUG_ON = Change("debug mode off", "web.config.debug = False\n")
SAYS_WHO_RUNS = [
    Change("nothing: the module says under which name it runs", '"""\nimport web\n',
           '"""\nprint("running as", __name__, flush=True)\nimport web\n'),
    Change("nothing: /count says which copy of the module that made its handler handles the request",
           "    class count:\n        def GET(self):\n",
           "    made_by = __import__('sys')._getframe(1).f_globals['__name__']\n\n"
           "    class count:\n        def GET(self):\n            print('handled by', made_by, flush=True)\n",
           file="counting.py"),
]
NO_GUARD = Change("the guard that keeps the first Session across reloads", """\
if web.config.get("_session") is None:
    web.config._session = web.session.Session(
        app, web.session.DiskStore("sessions"), initializer={"count": 0}
    )
session = web.config._session
""", 'session = web.session.Session(app, web.session.DiskStore("sessions"), initializer={"count": 0})\n')
DEBUG_OFF = Change("debug mode on", "web.config.debug = True", "web.config.debug = False")
VISITS_SHOWN = Change("nothing: an edit of the page, made while the server runs", "return str(session.count)",
                      'return f"Visits: {session.count}"')


def edit(path, change):
    """Edit a file of the running copy, as its developer would."""
    path.write_text(changed(path.read_text(), [change], path.name))


def count(visitor):
    """What GET /count shows the visitor: the page, or the status of an error."""
    answer = visitor.get("/count")
    return answer.text if answer.status == 200 else answer.status


def newer(path, seconds=10):
    """The file given a modification time `seconds` ahead, newer than any the reloader saw."""
    later = time.time() + seconds
    os.utime(path, (later, later))


def test_debug_mode_runs_the_main_file_again_as_a_module_that_handles_requests(tmp_path, recipe_server):
    server = recipe_server(recipe_copy("count", tmp_path / "myapp", DEBUG_ON, *SAYS_WHO_RUNS))
    assert server.log().startswith("running as __main__\nrunning as app\nhttp://")
    assert count(Visitor(server)) == 500
    assert "\nhandled by app\n" in server.log()
    assert TRACEBACK_ENDING_IN_THE_ERROR.search(server.log()), server.log()


def test_without_the_guard_the_first_edit_breaks_the_session(tmp_path, recipe_server):
    counter = recipe_copy("reloader", tmp_path / "myapp", NO_GUARD, file="counter.py")
    server = recipe_server(counter.with_name("app.py"))
    visitor = Visitor(server)
    assert [count(visitor), count(visitor)] == ["1", "2"]
    edit(counter, VISITS_SHOWN)
    assert count(visitor) == 500
    assert "AttributeError: 'ThreadedDict' object has no attribute 'count'" in server.log()


def test_an_edit_before_the_first_request_waits_for_the_next_change(tmp_path, recipe_server):
    """The reloader remembers each file's modification time at the first request after start."""
    counter = unchanged_copy("reloader", tmp_path / "myapp") / "counter.py"
    server = recipe_server(counter.with_name("app.py"))
    edit(counter, VISITS_SHOWN)
    visitor = Visitor(server)
    assert [count(visitor), count(visitor)] == ["1", "2"], "the edit made before the first request is not seen"
    newer(counter)
    assert count(visitor) == "Visits: 3"


def test_a_same_size_edit_in_the_same_second_runs_the_old_bytecode(tmp_path, recipe_server):
    """Python reuses __pycache__ when the source's size and whole-second modification time match."""
    counter = unchanged_copy("reloader", tmp_path / "myapp") / "counter.py"
    second = int(time.time()) - 60
    os.utime(counter, (second + 0.1, second + 0.1))
    server = recipe_server(counter.with_name("app.py"), {"PYTHONDONTWRITEBYTECODE": ""})  # as on a reader's machine
    assert list((counter.parent / "__pycache__").glob("counter.*.pyc"))
    visitor = Visitor(server)
    assert count(visitor) == "1"
    edit(counter, Change("nothing: an edit that keeps the file's size", "session.count += 1", "session.count += 5"))
    os.utime(counter, (second + 0.6, second + 0.6))  # changed for web.py, not for Python's cache
    assert count(visitor) == "2", "web.py reloaded counter.py, and Python ran its old bytecode"
    newer(counter)
    assert count(visitor) == "7"


def test_with_debug_off_the_same_counter_counts_and_edits_wait_for_a_restart(tmp_path, recipe_server):
    app = recipe_copy("reloader", tmp_path / "myapp", DEBUG_OFF)
    server = recipe_server(app)
    visitor = Visitor(server)
    assert [count(visitor), count(visitor)] == ["1", "2"]
    edit(app.with_name("counter.py"), VISITS_SHOWN)
    assert count(visitor) == "3"


# How each server starts Python, as web.py's web/wsgi.py (_is_dev_mode) looks at it when imported:
# the variables it puts in the process's environment, and sys.argv.
SERVERS = {
    "built-in server": ({}, ["app.py", "8080"], True),
    # gunicorn/arbiter.py, Arbiter.__init__: os.environ["SERVER_SOFTWARE"] = SERVER_SOFTWARE
    # ("gunicorn/<version>"), before it loads the application, in the master as in the workers.
    "gunicorn": ({"SERVER_SOFTWARE": "gunicorn/26.2.0"}, ["/usr/bin/gunicorn", "app:app"], False),
    # uWSGI's python plugin (init_pyargv) sets sys.argv to ["uwsgi"] and puts no variable in os.environ.
    "uwsgi": ({}, ["uwsgi"], True),
    # A CGI server passes its request's meta-variables, SERVER_SOFTWARE among them (RFC 3875), as the environment.
    "cgi": ({"SERVER_SOFTWARE": "Apache/2.4.62 (Debian)", "GATEWAY_INTERFACE": "CGI/1.1"}, ["app.py"], False),
    "web.py's fastcgi": ({}, ["app.py", "fcgi"], False),
    "PHP_FCGI_CHILDREN set (a FastCGI setting of lighttpd)": ({"PHP_FCGI_CHILDREN": "4"}, ["app.py"], False),
    "mod_wsgi": ({}, ["mod_wsgi"], False),  # mod_wsgi's default sys.argv
}


@pytest.mark.parametrize("server", SERVERS)
def test_debug_mode_is_on_once_web_is_imported_unless_another_server_shows(server):
    variables, argv, debug = SERVERS[server]
    # The embedding sets sys.argv before any of the application's code runs; so does this line.
    code = f"import sys; sys.argv = {argv!r}; import web; print(web.config.debug)"
    env = {name: value for name, value in python_env(variables).items()
           if name not in ("SERVER_SOFTWARE", "PHP_FCGI_CHILDREN") or name in variables}
    printed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert printed == f"{debug}\n"
