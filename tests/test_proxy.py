"""What the proxy page says beyond its transcripts: each defence, with and without it."""
import http.client
import re

import pytest

from harness import RECIPES, Recipe, Services, free_port, import_recipe, nginx_binary, python_env, start_recipe

RECIPE = RECIPES / "proxy" / "app.py"
SOURCE = RECIPE.read_text()
ALICE, MALLORY = "198.51.100.7", "203.0.113.9"


def request(port, cookie="", forwarded=(), source="127.0.0.1", underscored=()):
    """GET /count from `source`, with one X-Forwarded-For line per item of `forwarded`,
    then one X_Forwarded_For line per item of `underscored`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    connection.putrequest("GET", "/count")
    for line in forwarded:
        connection.putheader("X-Forwarded-For", line)
    for line in underscored:
        connection.putheader("X_Forwarded_For", line)
    if cookie:
        connection.putheader("Cookie", cookie)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response, body


def mallory_with_alices_cookie(app, tmp_path, **mallory):
    """Alice (via the proxy on 127.0.0.1) starts a session; Mallory uses her cookie. Mallory's answer."""
    server = start_recipe(app, tmp_path, {"TRUSTED_PROXIES": "127.0.0.1"})
    try:
        first, _ = request(server.port, forwarded=[ALICE])
        cookie = first.getheader("Set-Cookie").split(";")[0]
        response, body = request(server.port, cookie, **mallory)
        alice = request(server.port, cookie, forwarded=[ALICE])
    finally:
        server.stop()
    assert alice[0].status == 200 and alice[1] == ("3" if body == "2" else "2")  # Alice goes on
    return response.status, body


DROP_UNDERSCORES = "cheroot.server.HTTPRequest.header_reader = DropUnderscoredHeaders()  # the built-in server only\n"
PROCESSOR = "app.add_processor(bind_session_to_client)  # before Session() adds its own\n"
SESSION = 'initializer={"count": 0}\n)\n'
ATTACKS = {
    # name: (what Mallory sends, the changes that take the defence out of the recipe)
    "from another address, through the proxy": (
        {"forwarded": [MALLORY]},
        [("    web.ctx.ip = client_address(web.ctx.env)\n", "")]),
    "with a spoofed left-most entry": (
        {"forwarded": [f"{ALICE}, {MALLORY}"]},
        [("for hop in reversed(forwarded)", "for hop in forwarded")]),
    "straight to the application, claiming Alice's address": (
        {"forwarded": [ALICE], "source": "127.0.0.2"},
        [('hops = [environ["REMOTE_ADDR"], *(hop.strip() for hop in reversed(forwarded) if hop.strip())]',
          'hops = [*(hop.strip() for hop in reversed(forwarded) if hop.strip()), environ["REMOTE_ADDR"]]')]),
    "with an X_Forwarded_For line after the proxy's X-Forwarded-For": (
        {"forwarded": [MALLORY], "underscored": [ALICE]},
        [(DROP_UNDERSCORES, "")]),
    "when the processor is added after the Session": (
        {"forwarded": [MALLORY]},
        [(PROCESSOR, ""), (SESSION, SESSION + PROCESSOR)]),
}


def variant(tmp_path, changes):
    """tmp_path/app.py: the recipe with `changes`, (old, new) pairs, made."""
    source = SOURCE
    for old, new in changes:
        assert old in source
        source = source.replace(old, new)
    app = tmp_path / "app.py"
    app.write_text(source)
    return app


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "without the defence"])
def test_mallory_cannot_use_alices_session(tmp_path, attack, defended):
    mallory, changes = ATTACKS[attack]
    app = RECIPE if defended else variant(tmp_path, changes)
    status, body = mallory_with_alices_cookie(app, tmp_path, **mallory)
    assert (status, body) == ((403, "This session belongs to another address.\n") if defended else (200, "2"))


@pytest.mark.parametrize("defended", [True, False], ids=["recipe", "web.py's own answer"])
def test_a_refusal_is_a_403(tmp_path, defended):
    app = RECIPE if defended else variant(tmp_path, [("        raise web.forbidden(", "        raise  # (")])
    status, body = mallory_with_alices_cookie(app, tmp_path, forwarded=[MALLORY])
    assert (status, body) == ((403, "This session belongs to another address.\n") if defended else (200, "Session expired"))


def test_the_built_in_server_keeps_the_last_x_forwarded_for_line(tmp_path):
    """cheroot does not join repeated X-Forwarded-For lines: the last one replaces the others."""
    assert mallory_with_alices_cookie(RECIPE, tmp_path, forwarded=[ALICE, MALLORY])[0] == 403
    assert mallory_with_alices_cookie(RECIPE, tmp_path, forwarded=[MALLORY, ALICE])[0] == 200


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
        + DROP_UNDERSCORES, (200, MALLORY)),
    "cheroot's DropUnderscoreHeaderReader": (  # a str looked for in bytes: a TypeError, every request
        "import cheroot.server\ncheroot.server.HTTPRequest.header_reader = cheroot.server.DropUnderscoreHeaderReader()\n",
        (500, "")),
}


@pytest.mark.parametrize("reader", READERS)
def test_an_underscored_header_reaches_wsgi_as_x_forwarded_for(tmp_path, reader):
    """cheroot names a header HTTP_ + its name upper-cased, "-" made "_": X_Forwarded_For too."""
    before, answer = READERS[reader]
    app = tmp_path / "echo.py"
    app.write_text(ECHO.replace("web.config.debug", before + "web.config.debug"))
    server = start_recipe(app, tmp_path)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.putrequest("GET", "/")
        connection.putheader("X-Forwarded-For", MALLORY)
        connection.putheader("X_Forwarded_For", ALICE)
        connection.endheaders()
        response = connection.getresponse()
        seen = response.status, response.read().decode()
        connection.close()
    finally:
        server.stop()
    assert seen == answer


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
def test_behind_nginx_an_underscored_header_claims_an_address_unless_dropped(tmp_path, case):
    """Alice at 127.0.0.3 and Mallory at 127.0.0.2 reach the recipe through nginx on 127.0.0.1."""
    if not nginx_binary():
        Services.missing("nginx", "apt-get install nginx (macOS: brew install nginx)")
    recipe, underscores = BEHIND_NGINX[case]
    app = RECIPE if recipe else variant(tmp_path, [(DROP_UNDERSCORES, "")])
    backend = start_recipe(app, tmp_path, {"TRUSTED_PROXIES": "127.0.0.1"})
    port = free_port()
    (tmp_path / "nginx.conf").write_text(NGINX % {"port": port, "app": backend.port, "underscores": underscores})
    nginx = Recipe(f"{nginx_binary()} -p \"$PWD\" -e stderr -c nginx.conf -g 'daemon off;'", tmp_path, python_env(), port)
    try:
        first, _ = request(port, source="127.0.0.3")
        cookie = first.getheader("Set-Cookie").split(";")[0]
        mallory, body = request(port, cookie, source="127.0.0.2", underscored=["127.0.0.3"])
    finally:
        nginx.stop()
        backend.stop()
    passed_and_kept = underscores and not recipe
    assert (mallory.status, body) == ((200, "2") if passed_and_kept else (403, "This session belongs to another address.\n"))


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
]


@pytest.mark.parametrize("peer, forwarded, client", CLIENTS)
def test_client_address(tmp_path, monkeypatch, peer, forwarded, client):
    monkeypatch.chdir(tmp_path)  # DiskStore("sessions") is relative to the working directory
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    recipe = import_recipe("proxy")
    assert recipe.client_address({"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}) == client
