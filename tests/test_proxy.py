"""What the proxy page says beyond its transcripts: each defence, with and without it."""
import re

import pytest

from harness import RECIPES
from harness.client import get
from harness.copies import Change, recipe_copy
from harness.in_process import import_recipe
from harness.processes import BackgroundServer, free_port, nginx_binary, python_env
from harness.services import missing

SOURCE = (RECIPES / "proxy" / "app.py").read_text()
ALICE, MALLORY = "198.51.100.7", "203.0.113.9"
REFUSED = (403, "This session belongs to another address.\n")


def count(server, cookie=None, forwarded=(), source="127.0.0.1", underscored=()):
    """GET /count from `source`, with one X-Forwarded-For line per item of `forwarded`,
    then one X_Forwarded_For line per item of `underscored`."""
    lines = [("X-Forwarded-For", line) for line in forwarded] + [("X_Forwarded_For", line) for line in underscored]
    return get(server, "/count", cookie=cookie, lines=lines, source=source)


def mallory_with_alices_cookie(app, recipe_server, **mallory):
    """Alice (via the proxy on 127.0.0.1) starts a session; Mallory uses her cookie. Mallory's answer."""
    server = recipe_server(app, {"TRUSTED_PROXIES": "127.0.0.1"})
    cookie = count(server, forwarded=[ALICE]).cookie()
    response = count(server, cookie, **mallory)
    alice = count(server, cookie, forwarded=[ALICE])
    assert alice.status == 200 and alice.text == ("3" if response.text == "2" else "2")  # Alice goes on
    return response.status, response.text


DROP_UNDERSCORES = "cheroot.server.HTTPRequest.header_reader = DropUnderscoredHeaders()"
PROCESSOR = "app.add_processor(bind_session_to_client)"
SESSION = 'initializer={"count": 0}\n)\n'
NO_HEADER_READER = Change("the header reader that drops underscored headers", DROP_UNDERSCORES)
ATTACKS = {
    # name: (what Mallory sends, the changes that take the defence out of the recipe)
    "from another address, through the proxy": (
        {"forwarded": [MALLORY]},
        [Change("the client's address as web.ctx.ip", "    web.ctx.ip = client_address(web.ctx.env)\n")]),
    "with a spoofed left-most entry": (
        {"forwarded": [f"{ALICE}, {MALLORY}"]},
        [Change("reading the entries from the right", "for hop in reversed(forwarded)", "for hop in forwarded")]),
    "straight to the application, claiming Alice's address": (
        {"forwarded": [ALICE], "source": "127.0.0.2"},
        [Change("starting from the peer's address",
                'hops = [environ["REMOTE_ADDR"], *(hop.strip() for hop in reversed(forwarded) if hop.strip())]',
                'hops = [*(hop.strip() for hop in reversed(forwarded) if hop.strip()), environ["REMOTE_ADDR"]]')]),
    "with an X_Forwarded_For line after the proxy's X-Forwarded-For": (
        {"forwarded": [MALLORY], "underscored": [ALICE]},
        [NO_HEADER_READER]),
    "when the processor is added after the Session": (
        {"forwarded": [MALLORY]},
        [Change("the processor added before the Session", PROCESSOR),
         Change("the processor added before the Session", SESSION, SESSION + PROCESSOR + "\n")]),
}


def proxy(tmp_path, defended, *changes):
    """The recipe itself, or without the defence a copy in tmp_path with `changes` made."""
    return recipe_copy("proxy", tmp_path, *([] if defended else changes))


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "without the defence"])
def test_mallory_cannot_use_alices_session(tmp_path, attack, defended, recipe_server):
    mallory, changes = ATTACKS[attack]
    answer = mallory_with_alices_cookie(proxy(tmp_path, defended, *changes), recipe_server, **mallory)
    assert answer == (REFUSED if defended else (200, "2"))


@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "web.py's own answer"])
def test_a_refusal_is_a_403(tmp_path, defended, recipe_server):
    reraise = Change("the 403", "        raise web.forbidden(", "        raise  # (")
    answer = mallory_with_alices_cookie(proxy(tmp_path, defended, reraise), recipe_server, forwarded=[MALLORY])
    assert answer == (REFUSED if defended else (200, "Session expired"))


def test_the_built_in_server_keeps_the_last_x_forwarded_for_line(tmp_path, recipe_server):
    """cheroot does not join repeated X-Forwarded-For lines: the last one replaces the others."""
    recipe = proxy(tmp_path, True)
    assert mallory_with_alices_cookie(recipe, recipe_server, forwarded=[ALICE, MALLORY])[0] == 403
    assert mallory_with_alices_cookie(recipe, recipe_server, forwarded=[MALLORY, ALICE])[0] == 200


ECHO = """import web

web.config.debug = False
app = web.application(("/", "echo"), globals())


class echo:
    def GET(self):
        return web.ctx.env.get("HTTP_X_FORWARDED_FOR", "")


if __name__ == "__main__":
    app.run()
"""
READERS = {
    # header reader: (what the echo application gets before it, its answer)
    "web.py's server": ("", (200, ALICE)),
    "the recipe's DropUnderscoredHeaders": (
        "import cheroot.server\n\n" + re.search(r"class DropUnderscoredHeaders.*?\n\n\n", SOURCE, re.DOTALL).group()
        + DROP_UNDERSCORES + "\n", (200, MALLORY)),
    "cheroot's DropUnderscoreHeaderReader": (  # a str looked for in bytes: a TypeError, every request
        "import cheroot.server\ncheroot.server.HTTPRequest.header_reader = cheroot.server.DropUnderscoreHeaderReader()\n",
        (500, "")),
}


@pytest.mark.parametrize("reader", READERS)
def test_an_underscored_header_reaches_wsgi_as_x_forwarded_for(tmp_path, reader, recipe_server):
    """cheroot names a header HTTP_ + its name upper-cased, "-" made "_": X_Forwarded_For too."""
    before, answer = READERS[reader]
    app = tmp_path / "echo.py"
    app.write_text(ECHO.replace("web.config.debug", before + "web.config.debug"))
    response = get(recipe_server(app), "/", lines=[("X-Forwarded-For", MALLORY), ("X_Forwarded_For", ALICE)])
    assert (response.status, response.text) == answer


NGINX = """pid nginx.pid;
events {}
http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    server {
        listen 127.0.0.1:%(port)d;
        %(underscores)s
        location / {
            proxy_pass http://127.0.0.1:%(app)d;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
"""
BEHIND_NGINX = {
    # name: (the proxy recipe, or a copy that keeps underscored headers; nginx's option)
    "recipe, nginx by default": (True, ""),
    "without the header reader, nginx by default": (False, ""),
    "recipe, nginx passing underscores": (True, "underscores_in_headers on;"),
    "without the header reader, nginx passing underscores": (False, "underscores_in_headers on;"),
}


@pytest.mark.parametrize("case", BEHIND_NGINX)
def test_behind_nginx_an_underscored_header_claims_an_address_unless_dropped(tmp_path, case, recipe_server):
    """Alice at 127.0.0.3 and Mallory at 127.0.0.2 reach the recipe through nginx on 127.0.0.1."""
    if not nginx_binary():
        missing("nginx", "apt-get install nginx (macOS: brew install nginx)")
    recipe, underscores = BEHIND_NGINX[case]
    backend = recipe_server(proxy(tmp_path, recipe, NO_HEADER_READER), {"TRUSTED_PROXIES": "127.0.0.1"})
    port = free_port()
    (tmp_path / "nginx.conf").write_text(NGINX % {"port": port, "app": backend.port, "underscores": underscores})
    nginx = BackgroundServer(f"{nginx_binary()} -p \"$PWD\" -e stderr -c nginx.conf -g 'daemon off;'", tmp_path,
                             python_env(), port)
    try:
        cookie = count(port, source="127.0.0.3").cookie()
        mallory = count(port, cookie, source="127.0.0.2", underscored=["127.0.0.3"])
    finally:
        nginx.stop()
    passed_and_kept = underscores and not recipe
    assert (mallory.status, mallory.text) == ((200, "2") if passed_and_kept else REFUSED)


CLIENTS = [
    # (REMOTE_ADDR, X-Forwarded-For, the client address the recipe sees)
    ("127.0.0.2", "", "127.0.0.2"),
    ("127.0.0.2", ALICE, "127.0.0.2"),  # not a trusted proxy: its header proves nothing
    ("127.0.0.1", "", "127.0.0.1"),  # the proxy itself
    ("127.0.0.1", ALICE, ALICE),
    ("127.0.0.1", f"{MALLORY}, {ALICE}", ALICE),
    ("127.0.0.1", f"{ALICE}, 10.0.0.5", ALICE),  # through two trusted proxies
    ("127.0.0.1", f"{ALICE},10.0.0.5 , ", ALICE),  # spaces and empty entries
    ("127.0.0.1", "10.0.0.7, 10.0.0.5", "10.0.0.7"),  # proxies all the way: the farthest
    ("127.0.0.1", "unknown", "unknown"),  # what the proxy saw, address or not
    ("::1", ALICE, "::1"),  # an IPv6 peer is not in an IPv4 network
    ("::ffff:127.0.0.1", ALICE, ALICE),  # the proxy, as a server listening on [::] sees it
]


@pytest.mark.parametrize("peer, forwarded, client", CLIENTS)
def test_client_address(tmp_path, monkeypatch, peer, forwarded, client):
    monkeypatch.chdir(tmp_path)  # DiskStore("sessions") is relative to the working directory
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    recipe = import_recipe("proxy")
    assert recipe.client_address({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}) == client


@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "without the IPv4 form"])
def test_an_ipv4_proxy_seen_through_an_ipv6_socket_is_still_trusted(tmp_path, monkeypatch, defended):
    """Python does not find ::ffff:127.0.0.1 in the network 127.0.0.1: without the IPv4 form, every
    visitor would get the proxy's address, and a stolen cookie would work through the proxy."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    recipe = import_recipe("proxy", proxy(tmp_path / "copy", defended, Change(
        "the IPv4 form of a mapped address", 'address = getattr(address, "ipv4_mapped", None) or address', "pass")))
    client = recipe.client_address({"REMOTE_ADDR": "::ffff:127.0.0.1", "HTTP_X_FORWARDED_FOR": ALICE})
    assert client == (ALICE if defended else "::ffff:127.0.0.1")


@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "a GET reset"])
def test_a_reset_takes_a_post(tmp_path, recipe_server, defended):
    """A link from any site carries the cookie: a GET must change nothing."""
    server = recipe_server(proxy(tmp_path, defended, Change("the POST-only reset", "    def POST(self):", "    def GET(self):", file="counting.py")),
                           {"TRUSTED_PROXIES": "127.0.0.1"})
    cookie = count(server).cookie()
    assert get(server, "/reset", cookie=cookie).status == (405 if defended else 200)
    assert count(server, cookie).text == ("2" if defended else "1")
