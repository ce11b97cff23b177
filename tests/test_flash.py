"""What the flash page says beyond its transcripts."""
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import web

from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get, post
from harness.copies import HOLD, Change, Holds, recipe_copy
from harness.in_process import cookie_header, import_recipe

FLASH = re.compile(r'<p class="flash">(.*)</p>')
SHARED_LIST = Change("the dict initializer, deep-copied for each new session: a function's list, shared",
                     'session = web.session.Session(\n    app, web.session.DiskStore("sessions"), '
                     'initializer={"messages": []}\n)\n', """
DEFAULTS = {"messages": []}
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer=lambda: session.update(DEFAULTS)
)
""")


def shown(answer):
    """The flash messages a page shows."""
    return FLASH.findall(answer.text)


def test_a_function_initializer_can_hand_one_list_to_every_session(tmp_path, recipe_server):
    """The recipe's dict initializer is deep-copied for each new session; a function's list is not."""
    seen_by_a_stranger = {}
    for name, app in [("recipe", RECIPES_CATALOGUE["flash"].app),
                      ("shared list", recipe_copy("flash", tmp_path / "shared", SHARED_LIST))]:
        server = recipe_server(app)
        # Alice's first request is a POST: the initializer's list gets her message.
        assert post(server, "/messages", {"text": "For Alice only"}).status == 303
        # Two strangers, each a new session: the first one's GET does not take it from the next.
        seen_by_a_stranger[name] = [shown(get(server, "/")) for _ in range(2)]
    assert seen_by_a_stranger == {"recipe": [[], []], "shared list": [["For Alice only"]] * 2}


HELD_POST = [Change("nothing: adds the test's hold()", "\nimport web\n", "\nimport web\n" + HOLD),
             Change("nothing: a post waits for the test once the session is loaded",
                    "        session.messages.append(", "        hold()\n        session.messages.append(")]


def test_overlapping_posts_of_one_session_lose_messages(recipe_server, tmp_path):
    """No locking: a post that loaded the session before another saved it writes over its message."""
    server = recipe_server(recipe_copy("flash", tmp_path, *HELD_POST))
    cookie = get(server, "/").cookie()
    holds = Holds(tmp_path, 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(post, server, "/messages", {"text": "first"}, cookie=cookie)
        holds.wait(1)
        second = pool.submit(post, server, "/messages", {"text": "second"}, cookie=cookie)
        holds.wait(2)
        holds.release(2)
        assert second.result().status == 303
        holds.release(1)
        assert first.result().status == 303
    assert shown(get(server, "/", cookie=cookie)) == ["first"]  # "second" was saved, then written over


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
    alice = cookie_header(posted)

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


WEB_INPUT = Change("form_fields: the form read with web.input() as it comes",
                   '        (text,) = form_fields("text")\n', '        text = web.input(text="").text\n')
NEVER_SENT = {  # what the page's form never posts: (body, its Content-Type)
    "not UTF-8": (b"text=\xff", "application/x-www-form-urlencoded"),
    "a file": (b'--x\r\nContent-Disposition: form-data; name="text"; filename="up.txt"\r\n\r\nhello\n\r\n--x--\r\n',
               "multipart/form-data; boundary=x"),
}
#: What the post of each answers, and what the next page shows, without form_fields.
UNCHECKED = {"not UTF-8": (500, ["Saved"]), "a file": (303, ["Saved", "b&#39;hello\\n&#39;"])}


@pytest.mark.parametrize("case", NEVER_SENT)
@pytest.mark.parametrize("defence", [True, False], ids=["form_fields", "web.input"])
def test_a_form_the_page_never_sends_is_a_400_and_the_messages_stay(case, defence, tmp_path, recipe_server):
    server = recipe_server(recipe_copy("flash", tmp_path, *([] if defence else [WEB_INPUT])))
    cookie = post(server, "/messages", {"text": "Saved"}).cookie()
    body, content_type = NEVER_SENT[case]
    answer = post(server, "/messages", body=body, headers={"Content-Type": content_type}, cookie=cookie)
    outcome = (answer.status, shown(get(server, "/", cookie=cookie)))
    assert outcome == ((400, ["Saved"]) if defence else UNCHECKED[case])
    assert ("UnicodeDecodeError" in server.log()) == (not defence and case == "not UTF-8")


def test_nothing_caps_the_list_until_a_page_shows_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # sessions/ is created in the working directory
    recipe = import_recipe("flash")
    visitor = cookie_header(recipe.app.request("/"))
    for number in range(500):
        recipe.app.request("/messages", method="POST", data=f"text={number}", headers=visitor)
    assert FLASH.findall(recipe.app.request("/", headers=visitor).data.decode()) == [str(n) for n in range(500)]
