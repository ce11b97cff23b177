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
NO_TRY = [  # web.input() left to fail on a form that is not UTF-8
    ("    try:\n        item = web.input(item=\"\").item\n    except UnicodeDecodeError:\n        item = \"\"\n",
     "    item = web.input(item=\"\").item\n"),
]
WEB_PY_ERRORS = [  # web.py's own 400 and 409
    ('raise refuse("400 Bad Request", "The form needs an item, in UTF-8.")',
     'raise web.badrequest("The form needs an item, in UTF-8.\\n")'),
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
        assert (status, text) == (400, "The form needs an item, in UTF-8.\n")


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
