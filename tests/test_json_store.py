"""What the json-store page says beyond its transcripts: refused records are logged, old records replay."""
import base64
import http.client
import pickle
import re
import shutil

import pytest

from harness import RECIPES, import_recipe, start_recipe

SECRET = {"SESSION_SECRET": "s" * 32}
OTHER_SECRET = {"SESSION_SECRET": "t" * 32}


class Planted:
    def __reduce__(self):  # unpickling this creates the file `pwned`
        return eval, ("open('pwned', 'w').close() or {'count': 41}",)


def visit(server, session_id=None):
    """(status, body, new session id) of GET /count with this session id."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/count", headers={"Cookie": f"webpy_session_id={session_id}"} if session_id else {})
    response = connection.getresponse()
    answer = response.status, response.read().decode(), re.search(r"webpy_session_id=(\w*)", response.getheader("Set-Cookie")).group(1)
    connection.close()
    return answer


@pytest.fixture(scope="module")
def SignedJsonStore(tmp_path_factory):
    """The recipe's store class (importing the recipe makes a sessions/ of its own: elsewhere)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("import"))
        patch.setenv("SESSION_SECRET", SECRET["SESSION_SECRET"])
        return import_recipe("json-store").SignedJsonStore


@pytest.fixture
def server(tmp_path):
    running = start_recipe(RECIPES / "json-store" / "app.py", tmp_path, SECRET)
    yield running
    running.stop()


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


def test_stock_disk_store_runs_the_planted_pickle(tmp_path):
    """The count recipe's DiskStore unpickles what it finds: the planted record creates `pwned`."""
    count = start_recipe(RECIPES / "count" / "app.py", tmp_path)
    try:
        (tmp_path / "sessions").mkdir(exist_ok=True)
        pickled(tmp_path / "sessions" / "any", None)
        assert visit(count, "c0ffee")[:2] == (200, "42")
    finally:
        count.stop()
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


@pytest.mark.parametrize("value", [object(), {"$set": [1]}, (1, 2)], ids=["object", "tag of ours", "tuple"])
def test_what_json_cannot_give_back_is_not_saved(SignedJsonStore, tmp_path, value):
    store = SignedJsonStore(str(tmp_path), SECRET["SESSION_SECRET"])
    with pytest.raises(TypeError):
        store["ab"] = {"value": value}
    assert list(tmp_path.iterdir()) == []
