"""What the cart page says beyond its transcripts, each defence removed in a variant."""
from concurrent.futures import ThreadPoolExecutor

import pytest
import web

from harness.client import get, post
from harness.copies import Change, recipe_copy

MESSAGE = "The form needs an item: printable text, in UTF-8."
INITIALIZER = [  # the cart from an initializer, read as session.cart
    Change("setdefault: an initializer instead", 'DiskStore("sessions"))',
           'DiskStore("sessions"), initializer={"cart": {}})'),
    Change("setdefault: the cart read as session.cart", 'return session.setdefault("cart", {})', "return session.cart"),
]
NO_CATCH = [Change("the catch of a form that is not UTF-8: web.input() left to fail", "except UnicodeDecodeError:",
                   "except ():")]
NO_CHECKS = [Change("the refusal of U+FFFD and of what is not printable",
                    ' or "\\ufffd" in item or not item.isprintable():', ":")]
NO_TYPE_CHECK = [Change("the refusal of a field sent as a file", "not isinstance(item, str) or ", "")]
GET_INSTEAD = [Change("setdefault: a cart not put in the session until /cart/empty assigns one",
                      'session.setdefault("cart", {})', 'session.get("cart", {})')]
WEB_PY_ERRORS = [
    Change("the plain-text 400: web.py's own", f'raise refuse("400 Bad Request", "{MESSAGE}")',
           f'raise web.badrequest("{MESSAGE}\\n")'),
    Change("the plain-text 409: web.py's own", 'raise refuse("409 Conflict", f"Not in the cart: {item}")',
           'raise web.conflict(f"Not in the cart: {item}\\n")'),
]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def posted(server, path, body=b"", cookie=None):
    """POST a form given as raw bytes, as a client may send any."""
    return post(server, path, body=body, headers=FORM, cookie=cookie)


def listing(server, cookie):
    """The cart, as GET /cart lists it."""
    return get(server, "/cart", cookie=cookie).text


def cart_server(recipe_server, tmp_path, changes=()):
    """The cart recipe as a server, or a copy of it with `changes` made."""
    return recipe_server(recipe_copy("cart", tmp_path, *changes))


@pytest.mark.parametrize("changes", [(), INITIALIZER], ids=["setdefault", "initializer"])
def test_a_session_older_than_the_cart_gets_a_cart(tmp_path, recipe_server, changes):
    older = "ab" * 20  # a session saved by an application without a cart, the count recipe's
    web.session.DiskStore(str(tmp_path / "sessions"))[older] = {"count": 3, "ip": "127.0.0.1"}
    older = f"webpy_session_id={older}"
    server = cart_server(recipe_server, tmp_path, changes)
    new_cart = listing(server, posted(server, "/cart/add", b"item=pear").cookie())
    status = posted(server, "/cart/add", b"item=apple", older).status
    older_cart = listing(server, older)
    assert new_cart == "1 pear\n", "both ways serve a new session"
    if changes:
        assert status == 500
        assert "AttributeError: 'ThreadedDict' object has no attribute 'cart'" in server.log()
    else:
        assert (status, older_cart) == (303, "1 apple\n")


@pytest.mark.parametrize("changes", [(), NO_CATCH], ids=["recipe", "without the catch"])
def test_a_form_not_in_utf8_gets_a_400(tmp_path, recipe_server, changes):
    server = cart_server(recipe_server, tmp_path, changes)
    answer = posted(server, "/cart/add", b"item=\xff")
    if changes:
        assert answer.status == 500
        assert "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff" in server.log()
    else:
        assert (answer.status, answer.text) == (400, MESSAGE + "\n")


def file_field(name, content):
    """A multipart form whose field `name` is sent as a file, as `curl -F name=@file` does: (body, headers)."""
    body = (f'--b\r\nContent-Disposition: form-data; name="{name}"; filename="up.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\n{content}\r\n--b--\r\n").encode()
    return body, {"Content-Type": "multipart/form-data; boundary=b"}


@pytest.mark.parametrize("changes", [(), NO_TYPE_CHECK], ids=["recipe", "without the type check"])
@pytest.mark.parametrize("path", ["/cart/add", "/cart/remove"])
def test_an_item_sent_as_a_file_gets_a_400(tmp_path, recipe_server, changes, path):
    server = cart_server(recipe_server, tmp_path, changes)
    body, headers = file_field("item", "hello")
    answer = post(server, path, body=body, headers=headers)
    if changes:
        assert answer.status == 500
        assert "TypeError: a bytes-like object is required, not 'str'" in server.log()
    else:
        assert (answer.status, answer.text) == (400, MESSAGE + "\n")


REFUSED = {  # form bodies whose item is not one line of printable text in UTF-8
    "percent-encoded byte not UTF-8": b"item=%FF",
    "U+FFFD sent on purpose": b"item=%EF%BF%BD",
    "line break": b"item=x%0A99+fake",
    "carriage return": b"item=x%0D99+fake",
    "tab": b"item=a%09b",
    "no-break space": b"item=a%C2%A0b",
    "line separator": b"item=a%E2%80%A8b",
}


@pytest.mark.parametrize("body", REFUSED.values(), ids=REFUSED.keys())
def test_an_item_that_is_not_printable_utf8_text_gets_a_400(tmp_path, recipe_server, body):
    server = cart_server(recipe_server, tmp_path)
    answer = posted(server, "/cart/add", body)
    assert (answer.status, answer.text, listing(server, answer.cookie())) == (400, MESSAGE + "\n", "")


def added_then_listed(server, bodies):
    """Each body posted to /cart/add in one new session, then GET /cart: (statuses, listing)."""
    cookie = get(server, "/cart").cookie()
    statuses = [posted(server, "/cart/add", body, cookie).status for body in bodies]
    return statuses, listing(server, cookie)


def test_printable_text_in_utf8_is_accepted(tmp_path, recipe_server):
    statuses, listed = added_then_listed(cart_server(recipe_server, tmp_path), [b"item=caf%C3%A9", b"item=a+b"])
    assert (statuses, listed) == ([303, 303], "1 caf\u00e9\n1 a b\n")


def test_without_the_checks_a_bad_byte_and_a_forged_line_reach_the_listing(tmp_path, recipe_server):
    server = cart_server(recipe_server, tmp_path, NO_CHECKS)
    statuses, listed = added_then_listed(server, [b"item=%FF", b"item=x%0A99+fake"])
    assert statuses == [303, 303]
    assert listed == "1 \ufffd\n1 x\n99 fake\n", "U+FFFD kept, and a line `99 fake` that is no item"


def test_get_instead_of_setdefault_keeps_nothing_until_the_session_has_a_cart(tmp_path, recipe_server):
    server = cart_server(recipe_server, tmp_path, GET_INSTEAD)
    cookie = get(server, "/cart").cookie()
    listings = []
    for path in ("/cart/add", "/cart/empty", "/cart/add", "/cart/add"):
        assert posted(server, path, b"item=apple", cookie).status == 303
        listings.append(listing(server, cookie))
    assert listings == ["", "", "1 apple\n", "2 apple\n"]


@pytest.mark.parametrize("changes", [(), WEB_PY_ERRORS], ids=["recipe", "web.py's errors"])
def test_errors_are_plain_text_and_the_409_names_the_item(tmp_path, recipe_server, changes):
    server = cart_server(recipe_server, tmp_path, changes)
    not_in_the_cart = posted(server, "/cart/remove", b"item=%3Cscript%3Ealert(1)%3C/script%3E")
    missing_item = posted(server, "/cart/add")
    content_type = "text/html" if changes else "text/plain; charset=utf-8"
    assert (not_in_the_cart.status, not_in_the_cart.text) == (409, "Not in the cart: <script>alert(1)</script>\n")
    assert not_in_the_cart.headers["Content-Type"] == content_type
    assert (missing_item.status, missing_item.headers["Content-Type"]) == (400, content_type)


def test_overlapping_requests_of_one_session_lose_items(tmp_path, recipe_server):
    server = cart_server(recipe_server, tmp_path)
    cookie = get(server, "/cart").cookie()
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda n: posted(server, "/cart/add", f"item=sku{n}".encode(), cookie).status,
                                 range(40)))
    lines = listing(server, cookie).splitlines()
    assert statuses == [303] * 40
    assert len(lines) < 40, "all 40 items were kept: no update was lost"
