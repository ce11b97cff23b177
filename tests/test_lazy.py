"""What the lazy page says beyond its transcripts: store calls counted, every way into the session, atime."""
import operator
import os
import time
from types import SimpleNamespace

import pytest
import web

from harness import REPO
from harness.client import method_for
from harness.in_process import cookie_header, import_recipe, table_counts

STORE_CALLS = ["__contains__", "__getitem__", "__setitem__", "__delitem__", "cleanup"]


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the store's sessions/ is relative to the working directory
    return import_recipe("lazy")


@pytest.fixture
def calls(recipe, monkeypatch):
    """The name of every store method called, in order (super() calls inside the store not repeated)."""
    log = []
    store_class = type(recipe.session.store)
    for name in STORE_CALLS:
        method = getattr(store_class, name)
        monkeypatch.setattr(store_class, name,
                            lambda self, *args, _name=name, _method=method: (log.append(_name), _method(self, *args))[1])
    return log


def measured(app, calls, path, headers={}):
    calls.clear()
    response = app.request(path, method_for(path), headers=headers)
    return response, list(calls)


@pytest.mark.parametrize("page", ["lazy.md", "lazy.fr.md"])
def test_the_table_of_store_calls_is_measured(recipe, calls, page):
    app = recipe.app
    public_first, public_first_calls = measured(app, calls, "/")  # the process's very first request
    peek_new, peek_new_calls = measured(app, calls, "/peek")  # the first to use the session: cleanup
    first, _ = measured(app, calls, "/count")
    returning = cookie_header(first)
    rows = {  # the page's rows, in its order, each with the requests it stands for
        "no session used": [public_first_calls, measured(app, calls, "/", returning)[1],
                            measured(app, calls, "/nowhere")[1], measured(app, calls, "/nowhere", returning)[1]],
        "peek new": [measured(app, calls, "/peek")[1]],
        "peek returning": [measured(app, calls, "/peek", returning)[1]],
        "count new": [measured(app, calls, "/count")[1]],
        "count returning": [measured(app, calls, "/count", returning)[1]],
        "reset new": [measured(app, calls, "/reset")[1]],
        "reset returning": [measured(app, calls, "/reset", returning)[1]],
    }
    assert "Set-Cookie" not in dict(public_first.header_items)
    assert rows == {
        "no session used": [[], [], [], []],
        "peek new": [["__contains__"]],
        "peek returning": [["__contains__", "__getitem__"]],
        "count new": [["__contains__", "__setitem__"]],
        "count returning": [["__contains__", "__getitem__", "__setitem__"]],
        "reset new": [["__contains__", "__delitem__"]],
        "reset returning": [["__contains__", "__getitem__", "__delitem__"]],
    }
    assert peek_new_calls == ["cleanup"] + rows["peek new"][0]  # the last row: 1 more, the cleanup
    assert table_counts(REPO / "docs" / "production" / page) == [len(row[0]) for row in rows.values()] + [1]


@pytest.mark.parametrize("send_cookie", [True, False])
def test_web_py_session_on_the_public_page(recipe, calls, send_cookie):
    """web.py's own Session: store calls and a write; with `session.send_cookie = False`, no write but store calls."""
    stock = web.session.Session(None, recipe.session.store, initializer={"count": 0})

    class public:
        def GET(self):
            stock.send_cookie = send_cookie
            return "Welcome"

    app = web.application(("/", "public"), {"public": public})
    app.add_processor(stock._processor)
    new_visitor, new_visitor_calls = measured(app, calls, "/")
    returning = cookie_header(recipe.app.request("/count"))
    _, returning_calls = measured(app, calls, "/", returning)
    write = ["__setitem__"] if send_cookie else []
    assert ("Set-Cookie" in dict(new_visitor.header_items)) == send_cookie
    assert new_visitor_calls == ["cleanup", "__contains__"] + write  # the cleanup, then a new id checked against the store
    assert returning_calls == ["__contains__", "__getitem__"] + write
    assert len(os.listdir("sessions")) == (2 if send_cookie else 1)  # and the /count visitor's


ACCESSES = {  # a handler's way into the session -> what it returns on a returning visitor whose count is 5
    "attribute": lambda session: session.count,
    "get": lambda session: session.get("count"),
    "in": lambda session: "count" in session,
    "item": lambda session: session["count"],
}
CHANGES = {  # a handler's way to change the session -> what `"count" in session and session.count` is after
    "attribute": (lambda session: setattr(session, "count", 7), 7),
    "item": (lambda session: operator.setitem(session, "count", 7), 7),
    "setdefault": (lambda session: session.setdefault("cart", {}).update(apple=1), 5),
    "del attribute": (lambda session: delattr(session, "count"), False),
    "del item": (lambda session: operator.delitem(session, "count"), False),
}


def probe(recipe, way):
    """An app with the recipe's LazySession whose /way does `way` to the session, and /count reads the count."""
    class do:
        def GET(self):
            return str(way(session))

    class count:
        def GET(self):
            return str("count" in session and session.count)

    app = web.application(("/way", "do", "/count", "count"), locals())
    session = recipe.LazySession(app, recipe.session.store, initializer={"count": 0})
    returning = cookie_header(recipe.app.request("/count"))
    for _ in range(4):
        recipe.app.request("/count", headers=returning)
    return app, returning


@pytest.mark.parametrize("way", ACCESSES, ids=ACCESSES)
def test_every_way_to_read_the_session_loads_it(recipe, way):
    app, returning = probe(recipe, ACCESSES[way])
    assert app.request("/way", headers=returning).data == (b"True" if way == "in" else b"5")


@pytest.mark.parametrize("way", CHANGES, ids=CHANGES)
def test_every_way_to_change_the_session_loads_and_saves_it(recipe, way):
    change, after = CHANGES[way]
    app, returning = probe(recipe, change)
    assert app.request("/way", headers=returning).status == "200 OK"
    assert app.request("/count", headers=returning).data == str(after).encode()


def test_a_session_that_is_only_read_stays_with_the_cleanup(recipe, tmp_path):
    """Unchanged sessions are not rewritten: the recipe's store sets the access time the cleanup goes by.

    web.py's DiskStore leaves it to the filesystem, which on a relatime mount (Linux's default) updates
    it on the first read after each write, then at most once a day: the cleanup then deletes a session read a moment ago. On a clock
    moved on, the filesystem's access time is behind whatever the mount, as relatime's is after a day.
    """
    # Ten seconds pass for web.py's cleanup and for the recipe's store, not for the test.
    ten_seconds_later = SimpleNamespace(time=lambda: time.time() + 10, time_ns=lambda: time.time_ns() + 10**10)

    def read_twice_then_clean_up(store):
        store["ab"] = {"count": 1}
        store["ab"]  # the first read after a write: relatime updates the access time
        with pytest.MonkeyPatch.context() as clock:
            clock.setattr(web.session, "time", ten_seconds_later)
            clock.setattr(recipe, "time", ten_seconds_later)
            store["ab"]  # read again, well within the timeout...
            store.cleanup(5)  # ...yet 10 s after the access time the file shows, unless the read set it
        return os.path.exists(store._get_path("ab"))

    assert not read_twice_then_clean_up(web.session.DiskStore(str(tmp_path / "stock")))
    recipe_store = type(recipe.session.store)(str(tmp_path / "recipe"))
    assert read_twice_then_clean_up(recipe_store)
    path = recipe_store._get_path("ab")
    assert os.stat(path).st_mtime < os.stat(path).st_atime - 1, "the file was not rewritten, only its atime set"


def test_a_change_made_in_place_is_saved(recipe):
    """The session is compared with a deep copy of what was loaded: a cart changed in place is saved."""
    def add_an_apple(session):
        cart = session.setdefault("cart", {})  # from the second request on, the cart loaded, changed in place
        cart["apple"] = cart.get("apple", 0) + 1
        return cart["apple"]

    app, returning = probe(recipe, add_an_apple)
    assert [app.request("/way", headers=returning).data for _ in range(3)] == [b"1", b"2", b"3"]
