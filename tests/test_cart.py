"""What the cart page says beyond its transcripts, each defence removed in a variant."""
import http.client
from concurrent.futures import ThreadPoolExecutor

import pytest
import web

from harness import RECIPES, start_recipe

SOURCE = (RECIPES / "cart" / "app.py").read_text()
INITIALIZER = [  # the cart from an initializer, read as session.cart
    ('DiskStore("sessions"))', 'DiskStore("sessions"), initializer={"cart": {}})'),
    ('return session.setdefault("cart", {})', "return session.cart"),
]
MESSAGE = "The form needs an item: printable text, in UTF-8."
NO_TRY = [  # web.input() left to fail on a form that is not UTF-8
    ("    try:\n        item = web.input(item=\"\").item\n"
     "    except UnicodeDecodeError:  # a raw byte that is not UTF-8: web.py 0.76 would answer 500\n"
     "        item = \"\"\n",
     "    item = web.input(item=\"\").item\n"),
]
NO_CHECKS = [  # neither U+FFFD nor what is not printable refused
    ('if not item or "\\ufffd" in item or not item.isprintable():', "if not item:"),
]
GET_INSTEAD = [  # a cart that is not put in the session until /cart/empty assigns one
    ('session.setdefault("cart", {})', 'session.get("cart", {})'),
]
WEB_PY_ERRORS = [  # web.py's own 400 and 409
    (f'raise refuse("400 Bad Request", "{MESSAGE}")', f'raise web.badrequest("{MESSAGE}\\n")'),
    ('raise refuse("409 Conflict", f"Not in the cart: {item}")',
     'raise web.conflict(f"Not in the cart: {item}\\n")'),
]


def serve(tmp_path, variant=()):
    """The cart recipe as a server, or a variant of it: each (old, new) replaced once."""
    source = SOURCE
    for old, new in variant:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    (tmp_path / "app.py").write_text(source)
    return start_recipe(tmp_path / "app.py", tmp_path)


def send(server, method, path, form=b"", cookie=None):
    """(status, headers, text) of one request, its form sent as raw bytes."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request(method, path, form, headers)
    response = connection.getresponse()
    answer = response.status, response.headers, response.read().decode()
    connection.close()
    return answer


def cookie_of(headers):
    return headers["Set-Cookie"].split(";")[0]


@pytest.mark.parametrize("variant", [(), INITIALIZER], ids=["setdefault", "initializer"])
def test_a_session_older_than_the_cart_gets_a_cart(tmp_path, variant):
    older = "ab" * 20  # a session saved by an application without a cart, the count recipe's
    web.session.DiskStore(str(tmp_path / "sessions"))[older] = {"count": 3, "ip": "127.0.0.1"}
    server = serve(tmp_path, variant)
    try:
        _, headers, _ = send(server, "POST", "/cart/add", b"item=pear")
        new_cart = send(server, "GET", "/cart", cookie=cookie_of(headers))[2]
        status, _, _ = send(server, "POST", "/cart/add", b"item=apple", f"webpy_session_id={older}")
        older_cart = send(server, "GET", "/cart", cookie=f"webpy_session_id={older}")[2]
    finally:
        server.stop()
    assert new_cart == "1 pear\n", "both ways serve a new session"
    if variant:
        assert status == 500
        assert "AttributeError: 'ThreadedDict' object has no attribute 'cart'" in server.log()
    else:
        assert (status, older_cart) == (303, "1 apple\n")


@pytest.mark.parametrize("variant", [(), NO_TRY], ids=["recipe", "without the try"])
def test_a_form_not_in_utf8_gets_a_400(tmp_path, variant):
    server = serve(tmp_path, variant)
    try:
        status, _, text = send(server, "POST", "/cart/add", b"item=\xff")
    finally:
        server.stop()
    if variant:
        assert status == 500
        assert "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff" in server.log()
    else:
        assert (status, text) == (400, MESSAGE + "\n")


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
def test_an_item_that_is_not_printable_utf8_text_gets_a_400(tmp_path, body):
    server = serve(tmp_path)
    try:
        status, headers, text = send(server, "POST", "/cart/add", body)
        listing = send(server, "GET", "/cart", cookie=cookie_of(headers))[2]
    finally:
        server.stop()
    assert (status, text, listing) == (400, MESSAGE + "\n", "")


def added_then_listed(tmp_path, bodies, variant=()):
    """Each body posted to /cart/add in one new session, then GET /cart: (statuses, listing)."""
    server = serve(tmp_path, variant)
    try:
        cookie = cookie_of(send(server, "GET", "/cart")[1])
        statuses = [send(server, "POST", "/cart/add", body, cookie)[0] for body in bodies]
        return statuses, send(server, "GET", "/cart", cookie=cookie)[2]
    finally:
        server.stop()


def test_printable_text_in_utf8_is_accepted(tmp_path):
    statuses, listing = added_then_listed(tmp_path, [b"item=caf%C3%A9", b"item=a+b"])
    assert (statuses, listing) == ([303, 303], "1 caf\u00e9\n1 a b\n")


def test_without_the_checks_a_bad_byte_and_a_forged_line_reach_the_listing(tmp_path):
    statuses, listing = added_then_listed(tmp_path, [b"item=%FF", b"item=x%0A99+fake"], NO_CHECKS)
    assert statuses == [303, 303]
    assert listing == "1 \ufffd\n1 x\n99 fake\n", "U+FFFD kept, and a line `99 fake` that is no item"


def test_get_instead_of_setdefault_keeps_nothing_until_the_session_has_a_cart(tmp_path):
    server = serve(tmp_path, GET_INSTEAD)
    try:
        cookie = cookie_of(send(server, "GET", "/cart")[1])
        listings = []
        for path in ("/cart/add", "/cart/empty", "/cart/add", "/cart/add"):
            assert send(server, "POST", path, b"item=apple", cookie)[0] == 303
            listings.append(send(server, "GET", "/cart", cookie=cookie)[2])
    finally:
        server.stop()
    assert listings == ["", "", "1 apple\n", "2 apple\n"]


@pytest.mark.parametrize("variant", [(), WEB_PY_ERRORS], ids=["recipe", "web.py's errors"])
def test_errors_are_plain_text_and_the_409_names_the_item(tmp_path, variant):
    server = serve(tmp_path, variant)
    try:
        status, headers, text = send(server, "POST", "/cart/remove", b"item=%3Cscript%3Ealert(1)%3C/script%3E")
        missing_item = send(server, "POST", "/cart/add")
    finally:
        server.stop()
    content_type = "text/html" if variant else "text/plain; charset=utf-8"
    assert (status, text) == (409, "Not in the cart: <script>alert(1)</script>\n")
    assert headers["Content-Type"] == content_type
    assert (missing_item[0], missing_item[1]["Content-Type"]) == (400, content_type)


def test_overlapping_requests_of_one_session_lose_items(tmp_path):
    server = serve(tmp_path)
    try:
        cookie = cookie_of(send(server, "GET", "/cart")[1])
        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(lambda n: send(server, "POST", "/cart/add", f"item=sku{n}".encode(), cookie)[0],
                                     range(40)))
        lines = send(server, "GET", "/cart", cookie=cookie)[2].splitlines()
    finally:
        server.stop()
    assert statuses == [303] * 40
    assert len(lines) < 40, "all 40 items were kept: no update was lost"
