"""What the count page says about web.py 0.76 beyond its transcripts."""
import re
import urllib.error
import urllib.request

import pytest

from harness import RECIPES, counted_at_once, import_recipe, start_recipe


OLD_GUARD = """
if web.config.get("_session") is None:
    session = web.session.Session(app, web.session.DiskStore("sessions"), initializer={"count": 0})
    web.config._session = session
else:
    session = web.config._session
"""


def status_of(url):
    try:
        return urllib.request.urlopen(url).status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("guard", [False, True], ids=["plain", "with the old cookbook's guard"])
def test_debug_mode_breaks_the_session(tmp_path, guard):
    """Without `web.config.debug = False` the reloader makes a second Session: 500s."""
    source = (RECIPES / "count" / "app.py").read_text()
    assert "web.config.debug = False" in source
    source = source.replace("web.config.debug = False", "")
    if guard:
        source, replaced = re.subn(r"^session = .*?^\)\n", OLD_GUARD, source, flags=re.MULTILINE | re.DOTALL)
        assert replaced == 1
    app = tmp_path / "app.py"
    app.write_text(source)
    server = start_recipe(app, tmp_path)
    try:
        statuses = [status_of(f"http://127.0.0.1:{server.port}{path}") for path in ["/count", "/reset"]]
    finally:
        server.stop()
    assert statuses == [500, 500]
    assert "AttributeError: 'ThreadedDict' object has no attribute 'count'" in server.log()
    assert "AttributeError: 'ThreadedDict' object has no attribute 'session_id'" in server.log()


def test_overlapping_requests_of_one_session_lose_updates(tmp_path):
    """No locking: 40 requests at once with one cookie count far fewer than 40."""
    counted = counted_at_once(RECIPES / "count" / "app.py", tmp_path)
    assert counted <= 30, f"{counted} of 40: fewer than 10 updates were lost"


def test_count_with_the_test_client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # DiskStore("sessions") is relative to the working directory
    recipe = import_recipe("count")
    first = recipe.app.request("/count")
    assert first.data == b"1"
    cookie = dict(first.header_items)["Set-Cookie"].split(";")[0]
    assert recipe.app.request("/count", headers={"Cookie": cookie}).data == b"2"
    assert recipe.app.request("/reset", headers={"Cookie": cookie}).data == b"Reset"
    assert list((tmp_path / "sessions").iterdir()) == []
