"""What the json-store page says beyond its transcripts: refused records are logged, old records replay."""
import base64
import datetime
import dbm
import enum
import json
import pickle
import shelve
import shutil
import zoneinfo

import pytest
import web

from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get
from harness.in_process import import_recipe

SECRET = {"SESSION_SECRET": "s" * 32}
OTHER_SECRET = {"SESSION_SECRET": "t" * 32}


class Planted:
    def __reduce__(self):  # unpickling this creates the file `pwned`
        return eval, ("open('pwned', 'w').close() or {'count': 41}",)


def visit(server, session_id=None):
    """(status, body, the session id the answer sets) of GET /count with this session id."""
    answer = get(server, "/count", cookie=session_id and f"webpy_session_id={session_id}")
    return answer.status, answer.text, answer.cookie().split("=", 1)[1]


@pytest.fixture(scope="module")
def SignedJsonStore(tmp_path_factory):
    """The recipe's store class (importing the recipe makes a sessions/ of its own: elsewhere)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("import"))
        patch.setenv("SESSION_SECRET", SECRET["SESSION_SECRET"])
        return import_recipe("json-store").SignedJsonStore


@pytest.fixture
def server(recipe_server):
    return recipe_server(RECIPES_CATALOGUE["json-store"].app, SECRET)


def edited(path, store_class):
    path.write_bytes(path.read_bytes().replace(b'"count": 1', b'"count": 99'))


def forged(path, store_class):
    path.write_bytes(b'{"count": 99}\nhmac-sha256:' + b"0" * 64 + b"\n")


def copied(path, store_class):
    shutil.copy(path, path.with_name("c0ffee"))


def pickled(path, store_class):
    path.with_name("c0ffee").write_bytes(base64.encodebytes(pickle.dumps(Planted())))


def other_key(path, store_class):
    other = store_class(str(path.parent), OTHER_SECRET["SESSION_SECRET"])
    other[path.name] = {"count": 99}  # the same id, signed with another key


@pytest.mark.parametrize("spoil", [edited, forged, copied, pickled, other_key])
def test_a_refused_record_gets_a_fresh_session_and_a_line_in_the_log(server, tmp_path, spoil, SignedJsonStore):
    status, body, session_id = visit(server)
    assert (status, body) == (200, "1")
    path = tmp_path / "sessions" / session_id
    spoil(path, SignedJsonStore)
    sent = "c0ffee" if (path.parent / "c0ffee").exists() else session_id
    status, body, new_id = visit(server, sent)
    assert (status, body) == (200, "1")
    assert new_id not in (sent, "")
    assert f"Refused the session record {sent}: bad signature\n" in server.log()
    assert "Traceback" not in server.log()
    assert not (tmp_path / "pwned").exists()


def test_stock_disk_store_runs_the_planted_pickle(tmp_path, recipe_server):
    """The count recipe's DiskStore unpickles what it finds: the planted record creates `pwned`."""
    count = recipe_server(RECIPES_CATALOGUE["count"].app)
    (tmp_path / "sessions").mkdir(exist_ok=True)
    pickled(tmp_path / "sessions" / "any", None)
    assert visit(count, "c0ffee")[:2] == (200, "42")
    assert (tmp_path / "pwned").exists()


def test_an_older_record_of_the_same_session_is_accepted(server, tmp_path):
    """Signed is not fresh: whoever can write sessions/ can put back a session's earlier record."""
    _, _, session_id = visit(server)
    path = tmp_path / "sessions" / session_id
    earlier = path.read_bytes()
    assert visit(server, session_id)[1] == "2"
    assert visit(server, session_id)[1] == "3"
    path.write_bytes(earlier)
    assert visit(server, session_id)[1] == "2"


class Level(enum.IntEnum):
    ADMIN = 1


class Key(enum.StrEnum):
    CART = "cart"


CHANGED = {  # values JSON would give back changed, or not at all
    "tuple": (1, 2),
    "integer key": {1: 2},
    "web.storage": web.storage(name="Ann"),  # == the dict it would come back as
    "IntEnum": Level.ADMIN,  # == the int it would come back as
    "IntEnum in a set": {Level.ADMIN},
    "storage in a list": [web.storage(name="Ann")],
    "StrEnum key": {Key.CART: 1},  # == the str it would come back as
    "ZoneInfo": datetime.datetime(2024, 5, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    "tag of ours": {"$set": [1]},  # would come back a set
    "tag, not a date": {"$date": "nope"},  # reading it back raises ValueError
    "tag, set of lists": {"$set": [[1]]},  # reading it back raises TypeError: unhashable type: 'list'
    "set of tuples": {(1, 2)},  # comes back as a set of lists: the same TypeError
}


@pytest.mark.parametrize("value", CHANGED.values(), ids=CHANGED)
def test_what_json_would_change_is_refused_with_the_recipes_message(SignedJsonStore, tmp_path, value):
    store = SignedJsonStore(str(tmp_path), SECRET["SESSION_SECRET"])
    with pytest.raises(TypeError, match=r"^JSON would change these session values: value$"):
        store["ab"] = {"count": 1, "value": value}
    assert list(tmp_path.iterdir()) == []


def test_what_json_has_no_type_for_is_refused(SignedJsonStore, tmp_path):
    store = SignedJsonStore(str(tmp_path), SECRET["SESSION_SECRET"])
    with pytest.raises(TypeError, match=r"^object does not fit in JSON$"):
        store["ab"] = {"value": object()}
    assert list(tmp_path.iterdir()) == []


def test_what_comes_back_the_same_is_saved(SignedJsonStore, tmp_path):
    store = SignedJsonStore(str(tmp_path), SECRET["SESSION_SECRET"])
    paris = datetime.timezone(datetime.timedelta(hours=2))
    session = {"count": 1, "on": True, "price": 1.5, "none": None, "tags": {"new", 2}, "lines": [1, {"a": "b"}],
               "since": datetime.date(2024, 5, 1), "at": datetime.datetime(2024, 5, 1, 12, tzinfo=paris)}
    store["ab"] = session
    assert store["ab"] == session


def test_a_storage_would_come_back_a_dict_without_attributes(SignedJsonStore):
    """Why == is not enough: the storage and the dict are equal, and session.user.name fails on the dict."""
    user = web.storage(name="Ann")
    back = json.loads(json.dumps(user))
    assert back == user and type(back) is dict
    with pytest.raises(AttributeError):
        back.name


def test_which_of_web_pys_stores_pickle(tmp_path):
    """DiskStore and DBStore pickle (Store.encode), ShelfStore through shelve; MemoryStore keeps the object."""
    session = {"count": 1}
    web.session.DiskStore(str(tmp_path / "disk"))["ab"] = session
    assert pickle.loads(base64.decodebytes((tmp_path / "disk" / "ab").read_bytes())) == session

    db = web.database(dbn="sqlite", db=str(tmp_path / "sessions.db"))
    db.query("CREATE TABLE sessions (session_id CHAR(128) UNIQUE NOT NULL,"
             " atime TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, data TEXT)")
    web.session.DBStore(db, "sessions")["ab"] = session
    (row,) = db.select("sessions")
    assert pickle.loads(base64.decodebytes(row.data.encode())) == session

    with shelve.open(str(tmp_path / "shelf")) as shelf:
        web.session.ShelfStore(shelf)["ab"] = session
    with dbm.open(str(tmp_path / "shelf")) as raw:  # what shelve wrote: a pickle of (time, session)
        assert pickle.loads(raw[b"ab"])[1] == session

    memory = web.session.MemoryStore()
    memory["ab"] = session
    assert memory["ab"] is session  # the object itself: nothing serialized
