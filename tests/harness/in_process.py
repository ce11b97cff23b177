"""A recipe imported as a module and driven with web.py's ``app.request()``, and what its store did.

conftest.py's autouse fixture puts ``web.config`` back after each test: a recipe's settings at
import never reach the next test.
"""
import importlib.util
import os
import re
import sys
import time
from pathlib import Path

from harness import RECIPES
from harness.client import SESSION_COOKIES, form_field, method_for


def import_recipe(slug, app=None):
    """Import recipes/<slug>/app.py (or the file `app`) as a fresh module, to drive it with ``app.request()``."""
    path = Path(app) if app else RECIPES / slug / "app.py"
    spec = importlib.util.spec_from_file_location(f"recipe_{slug.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    # It imports the modules beside it (as `python app.py` does): those of this folder, not of another's.
    for sibling in path.parent.glob("*.py"):
        sys.modules.pop(sibling.stem, None)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def cookie_header(response, name=None):
    """The Cookie header that sends back the session an ``app.request()`` response set."""
    for header, value in response.header_items:
        if header == "Set-Cookie" and value.split("=")[0] in ([name] if name else SESSION_COOKIES):
            return {"Cookie": value.split(";")[0]}
    raise AssertionError(f"the answer sets no {name or 'session'} cookie: {response.header_items}")


def post_form(app, path, form, headers=None, **options):
    """``app.request()`` POSTs `form` to `path` as a browser posts the form of that page: the page
    fetched first (with the session's Cookie `headers`, or as a new visitor), its CSRF token and the
    session's cookie sent back. `options` go to both requests (env=...)."""
    page = app.request(path, headers=headers or {}, **options)
    token = form_field(page.data.decode(), "csrf_token")
    return app.request(path, method="POST", data=dict(form, csrf_token=token), headers=headers or cookie_header(page),
                       **options)


def recorded_calls(monkeypatch, cls, method, name_of):
    """A list that gets ``name_of(*args)`` of every call of ``cls.method`` from now on."""
    log, original = [], getattr(cls, method)

    def recorded(self, *args, **kwargs):
        log.append(name_of(*args))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, recorded)
    return log


def store_calls_by_request(app, log):
    """What the store did, as ``log`` records it, for each kind of request to a ``/count`` recipe."""
    def calls(path, headers={}):
        log.clear()
        response = app.request(path, method_for(path), headers=headers)
        return response, list(log)

    first, first_calls = calls("/count")  # a process's first request: the cleanup, then a new visitor
    returning = cookie_header(first)
    return {"first": first_calls, "returning": calls("/count", returning)[1],
            "unchanged": calls("/nowhere", returning)[1], "new": calls("/count")[1],
            "reset": calls("/reset", returning)[1]}


def lengths_after_appending(app, session, visits=4):
    """The length of a list in the session after each visit of a handler that appends to it in place."""
    class append:
        def GET(self):
            session.setdefault("cart", []).append("tea")
            return str(len(session.cart))

    app.add_mapping("/append", append)
    first = app.request("/append")
    return [int(first.data)] + [int(app.request("/append", headers=cookie_header(first)).data)
                                for _ in range(visits - 1)]


#: The leading number of a table row's second cell: how a page states a count per kind of request.
TABLE_COUNT = re.compile(r"^ *\| [^|]+ \| (\d+)\b", re.MULTILINE)


def table_counts(page):
    """The counts a page's table states, row by row (the page has one such table)."""
    return [int(count) for count in TABLE_COUNT.findall(Path(page).read_text(encoding="utf-8"))]


class Clock:
    """time.time() of the whole process, moved on by the test instead of waited for: web.py's
    cleanup, its cookie dates and a recipe's own limits all read it. Put back after the test.

    Files keep the real time: a file the test means as written now gets `stamp(path)`.
    """

    def __init__(self, monkeypatch, offset=0.0):
        real, self.offset = time.time, offset
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)

    def advance(self, seconds):
        self.offset += seconds

    def now(self):
        return time.time()

    def stamp(self, *paths):
        """Give files the clock's time, as if written now (a file system's clock does not move with it)."""
        for path in paths:
            os.utime(path, (self.now(), self.now()))
