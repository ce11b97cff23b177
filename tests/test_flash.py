"""What the flash page says beyond its transcripts."""
import http.client
import re
import shutil
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import web

from harness import RECIPES, import_recipe, start_recipe

FLASH = re.compile(r'<p class="flash">(.*)</p>')
SHARED_LIST = '''
DEFAULTS = {"messages": []}
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer=lambda: session.update(DEFAULTS)
)
'''


def request(port, method, path, cookie=None, text=None):
    """One request, redirects not followed: (status, Set-Cookie value, messages shown)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = urllib.parse.urlencode({"text": text}) if text is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    if cookie:
        headers["Cookie"] = cookie
    connection.request(method, path, body, headers)
    response = connection.getresponse()
    page = response.read().decode()
    connection.close()
    return response.status, response.getheader("Set-Cookie").split(";")[0], FLASH.findall(page)


def test_a_function_initializer_can_hand_one_list_to_every_session(tmp_path):
    """The recipe's dict initializer is deep-copied for each new session; a function's list is not."""
    shutil.copytree(RECIPES / "flash", tmp_path / "shared")
    source = (tmp_path / "shared" / "app.py").read_text()
    source, replaced = re.subn(r"^session = .*?^\)\n", SHARED_LIST, source, flags=re.MULTILINE | re.DOTALL)
    assert replaced == 1
    (tmp_path / "shared" / "app.py").write_text(source)

    seen_by_a_stranger = {}
    for name, app in [("recipe", RECIPES / "flash" / "app.py"), ("shared list", tmp_path / "shared" / "app.py")]:
        server = start_recipe(app, tmp_path)
        try:
            # Alice's first request is a POST: the initializer's list gets her message.
            assert request(server.port, "POST", "/messages", text="For Alice only")[0] == 303
            # Two strangers, each a new session: the first one's GET does not take it from the next.
            seen_by_a_stranger[name] = [request(server.port, "GET", "/")[2] for _ in range(2)]
        finally:
            server.stop()
    assert seen_by_a_stranger == {"recipe": [[], []], "shared list": [["For Alice only"]] * 2}


def test_overlapping_posts_of_one_session_lose_messages(tmp_path):
    """No locking: of 40 messages posted at once with one cookie, many are never shown."""
    server = start_recipe(RECIPES / "flash" / "app.py", tmp_path)
    try:
        cookie = request(server.port, "GET", "/")[1]
        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(
                lambda number: request(server.port, "POST", "/messages", cookie, f"message {number}")[0],
                range(40)))
        shown = request(server.port, "GET", "/", cookie)[2]
    finally:
        server.stop()
    assert statuses == [303] * 40
    assert len(shown) <= 30, f"{len(shown)} of 40 shown: fewer than 10 were lost"


class PausedStore(web.session.DiskStore):
    """A DiskStore that holds the thread named "overlapping" just after it loaded a session."""

    def __init__(self, root):
        super().__init__(root)
        self.loaded, self.release = threading.Event(), threading.Event()

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if threading.current_thread().name == "overlapping":
            self.loaded.set()
            self.release.wait(10)
        return value


def test_an_overlapping_request_can_bring_a_shown_message_back(tmp_path, monkeypatch):
    """Any request of the session saves what it loaded: one that overlaps GET / puts the message back."""
    monkeypatch.chdir(tmp_path)  # sessions/ is created in the working directory
    recipe = import_recipe("flash")
    recipe.session.store = store = PausedStore("sessions")
    posted = recipe.app.request("/messages", method="POST", data="text=Saved")
    alice = {"Cookie": dict(posted.header_items)["Set-Cookie"].split(";")[0]}

    # A request of Alice's that loads the session, then is slow (here a 404: any URL will do).
    overlapping = threading.Thread(name="overlapping", target=recipe.app.request, args=("/favicon.ico",),
                                   kwargs={"headers": alice})
    overlapping.start()
    assert store.loaded.wait(10)
    first = FLASH.findall(recipe.app.request("/", headers=alice).data.decode())
    store.release.set()
    overlapping.join(10)
    second = FLASH.findall(recipe.app.request("/", headers=alice).data.decode())
    assert first == second == ["Saved"]
