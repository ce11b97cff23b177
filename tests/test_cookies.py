"""What the hardened cookie page says of browsers, shown in Chromium; each attribute with and without it.

The recipe runs on 127.0.0.1 or on a name under `cookbook.localhost`, which Chromium resolves to
the loopback address itself. Another site's pages come from a small server of the test's own:
on 127.0.0.2, another site for Chromium (IP hosts are sites of their own), or on
`evil.cookbook.localhost`, the same site as `app.cookbook.localhost` but another host.
The test_csrf.py tests use these helpers too.
"""
import html
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import web

from browser import CHROMIUM, CHROMIUM_ARGS
from harness import RECIPES, import_recipe, start_recipe

APP_HOST = "app.cookbook.localhost"
SIBLING_HOST = "evil.cookbook.localhost"  # same site as APP_HOST: cookbook.localhost
OTHER_SITE = "127.0.0.2"


def recipe_copy(slug, tmp_path, **changes):
    """recipes/<slug>/app.py with each `old=new` change made once, or the recipe itself without changes."""
    app = RECIPES / slug / "app.py"
    if not changes:
        return app
    source = app.read_text()
    for old, new in changes.values():
        assert source.count(old) == 1, f"{old!r} is not in {slug}'s recipe exactly once"
        source = source.replace(old, new)
    copy = tmp_path / "app.py"
    copy.write_text(source)
    return copy


class OtherSite:
    """Pages another site serves: path -> (body, Set-Cookie headers), on `host` (listening on `address`)."""

    def __init__(self, host, address=None):
        pages = self.pages = {}
        received = self.cookies_received = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                received.append(self.headers.get("Cookie"))
                body, cookies = pages.get(self.path, ("not found", []))
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for cookie in cookies:
                    self.send_header("Set-Cookie", cookie)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((address or host, 0), Handler)
        self.origin = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path, body, cookies=()):
        self.pages[path] = (body, list(cookies))
        return self.origin + path

    def link_to(self, url):
        return self.page("/link", f'<a href="{html.escape(url)}">a link</a>')

    def form_posting(self, url, **fields):
        """A page that posts a form to `url` as soon as it loads."""
        inputs = "".join(f'<input name="{name}" value="{html.escape(value)}">' for name, value in fields.items())
        return self.page("/post", f'<form method="post" action="{html.escape(url)}">{inputs}</form>'
                                  "<script>document.forms[0].submit()</script>")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_site():
    """other_site(host, address=None) -> OtherSite, closed after the test."""
    sites = []

    def other_site(host, address=None):
        sites.append(OtherSite(host, address))
        return sites[-1]

    yield other_site
    for site in sites:
        site.close()


@pytest.fixture
def context(browser):
    """A fresh Chromium profile: one visitor, no cookies yet."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def server(tmp_path):
    """server(app, **env) -> the recipe started on 127.0.0.1 in tmp_path, stopped after the test."""
    servers = []

    def server(app, **env):
        servers.append(start_recipe(app, tmp_path, env))
        return servers[-1]

    yield server
    for running in servers:
        running.stop()


def visit(page, url):
    """The text the page shows at `url`, as a visitor who typed it."""
    page.goto(url)
    return page.inner_text("body")


def follow(page, start, url):
    """Open `start`, a page that leads to `url` (a link clicked, or a form posted by itself); return what `url` shows."""
    page.goto(start)
    if start.endswith("/link"):
        page.click("a")
    page.wait_for_url(url)
    return page.inner_text("body")


# SameSite value (None: no attribute) -> (a link from another site, then a form of another
# site posting /reset, then the visitor's next visit): the counts the visitor sees after two visits.
SAMESITE = {
    "Lax": ("3", "4"),  # the link carries the cookie; the form posts without it: nothing reset
    "Strict": ("1", "2"),  # the link arrives without it: a new session, whose cookie replaces the old one
    "None": ("3", "1"),  # both carry it: the other site resets the visitor's count
    "absent": ("3", "1"),  # no attribute, web.py's default: right after the visit, as None
}


@pytest.mark.parametrize("samesite", SAMESITE)
def test_samesite_decides_what_another_sites_link_and_form_carry(samesite, tmp_path, context, server, other_site):
    absent = {"samesite": ("    samesite=samesite,  # what other sites' links and forms carry\n", "")}
    app = recipe_copy("cookies", tmp_path, **absent) if samesite == "absent" else RECIPES / "cookies" / "app.py"
    recipe = server(app, **({} if samesite == "absent" else {"SESSION_COOKIE_SAMESITE": samesite}))
    count = f"http://127.0.0.1:{recipe.port}/count"
    reset = f"http://127.0.0.1:{recipe.port}/reset"
    attacker = other_site(OTHER_SITE)
    page = context.new_page()
    assert [visit(page, count), visit(page, count)] == ["1", "2"]
    after_link = follow(page, attacker.link_to(count), count)
    assert follow(page, attacker.form_posting(reset), reset) == "Reset"
    assert (after_link, visit(page, count)) == SAMESITE[samesite]


@pytest.mark.parametrize("path, status", [("/count", 405), ("/nowhere", 404)])
@pytest.mark.parametrize("defence", [True, False], ids=["loadhook", "no loadhook"])
def test_another_sites_form_leaves_the_visitors_cookie_whatever_its_answer(
        path, status, defence, tmp_path, context, server, other_site):
    """Under Lax the form posts without the cookie; a 405 or 404 must not send a new session's."""
    hook = {"hook": ("app.add_processor(web.loadhook(no_new_cookie_for_a_post_without_one))", "")}
    recipe = server(recipe_copy("cookies", tmp_path, **({} if defence else hook)))
    count = f"http://127.0.0.1:{recipe.port}/count"
    page = context.new_page()
    assert [visit(page, count), visit(page, count)] == ["1", "2"]
    target = f"http://127.0.0.1:{recipe.port}{path}"
    with page.expect_response(target) as response:
        page.goto(other_site(OTHER_SITE).form_posting(target))
    assert response.value.status == status
    assert visit(page, count) == ("3" if defence else "1")


@pytest.mark.parametrize("samesite, counts", [("None", ["1", "1"]), ("Lax", ["1", "2"])])
def test_chromium_drops_a_samesite_none_cookie_without_secure(samesite, counts, tmp_path, context, server):
    """web.py sends SameSite=None without Secure if asked to; Chromium keeps no such cookie."""
    insecure = recipe_copy("cookies", tmp_path, name=('cookie_name="__Host-sid"', 'cookie_name="sid"'),
                           secure=("secure=True,", "secure=False,"))
    recipe = server(insecure, SESSION_COOKIE_SAMESITE=samesite)
    count = f"http://127.0.0.1:{recipe.port}/count"
    cookie = urllib.request.urlopen(count).headers["Set-Cookie"]
    assert cookie.endswith(f"; HttpOnly; Path=/; SameSite={samesite}") and "Secure" not in cookie
    page = context.new_page()
    assert [visit(page, count), visit(page, count)] == counts
    assert [cookie["name"] for cookie in context.cookies()] == ([] if samesite == "None" else ["sid"])


@pytest.fixture(scope="module")
def chromium_with_a_name(browser):
    """Chromium reaching `cookbook.test` (not a loopback name) at 127.0.0.1, as it would a real host."""
    chromium = browser.browser_type.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP cookbook.test 127.0.0.1"])
    yield chromium
    chromium.close()


NOT_SECURE = {"name": ('cookie_name="__Host-sid"', 'cookie_name="sid"'), "secure": ("secure=True,", "secure=False,")}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", APP_HOST, "cookbook.test"])
@pytest.mark.parametrize("secure", [True, False], ids=["Secure", "not Secure"])
def test_chromium_takes_a_secure_cookie_over_http_from_loopback_hosts_only(
        host, secure, tmp_path, server, browser, chromium_with_a_name):
    recipe = server(recipe_copy("cookies", tmp_path, **({} if secure else NOT_SECURE)))
    chromium = chromium_with_a_name if host == "cookbook.test" else browser
    context = chromium.new_context()
    try:
        page = context.new_page()
        count = f"http://{host}:{recipe.port}/count"
        counts = [visit(page, count), visit(page, count)]
    finally:
        context.close()
    kept = not secure or host != "cookbook.test"
    assert counts == (["1", "2"] if kept else ["1", "1"])


# What breaks each rule of the __Host- prefix in a copy of the recipe, and the host visited.
HOST_RULES = {
    "Secure, Path=/, no Domain": ({}, APP_HOST),
    "not Secure": ({"secure": ("secure=True,", "secure=False,")}, APP_HOST),
    "Path=/count": ({"path": ('cookie_path="/",', 'cookie_path="/count",')}, APP_HOST),
    "Domain=app.cookbook.localhost": ({"domain": ("cookie_domain=None,", f'cookie_domain="{APP_HOST}",')}, APP_HOST),
    "Domain=127.0.0.1 on 127.0.0.1": ({"domain": ("cookie_domain=None,", 'cookie_domain="127.0.0.1",')}, "127.0.0.1"),
    "Domain=127.0.0.2 on 127.0.0.1": ({"domain": ("cookie_domain=None,", 'cookie_domain="127.0.0.2",')}, "127.0.0.1"),
}


@pytest.mark.parametrize("rule", HOST_RULES)
def test_chromium_keeps_a_host_prefixed_cookie_only_by_the_rules(rule, tmp_path, context, server):
    changes, host = HOST_RULES[rule]
    recipe = server(recipe_copy("cookies", tmp_path, **changes))
    count = f"http://{host}:{recipe.port}/count"
    page = context.new_page()
    counts = [visit(page, count), visit(page, count)]
    # A Domain equal to the IP address visited makes a host-only cookie in Chromium, which the prefix allows.
    kept = rule in ("Secure, Path=/, no Domain", "Domain=127.0.0.1 on 127.0.0.1")
    assert counts == (["1", "2"] if kept else ["1", "1"])


@pytest.mark.parametrize("prefix", [True, False], ids=["__Host-sid", "sid"])
def test_a_sibling_host_cannot_plant_a_host_prefixed_session(prefix, tmp_path, context, server, other_site):
    name = "__Host-sid" if prefix else "sid"
    renamed = {"name": ('cookie_name="__Host-sid"', 'cookie_name="sid"')}
    recipe = server(recipe_copy("cookies", tmp_path, **({} if prefix else renamed)))
    count = f"http://{APP_HOST}:{recipe.port}/count"
    # The attacker opens a session of their own, and counts twice in it.
    local_count = f"http://127.0.0.1:{recipe.port}/count"
    attacker_id = urllib.request.urlopen(local_count).headers["Set-Cookie"].split(";")[0].split("=")[1]
    urllib.request.urlopen(urllib.request.Request(local_count, headers={"Cookie": f"{name}={attacker_id}"}))
    # Their page on a sibling host sets it for the whole of cookbook.localhost, with the rest of the rules kept.
    sibling = other_site(SIBLING_HOST, "127.0.0.1")
    planting = sibling.page("/", "welcome", [f"{name}={attacker_id}; Secure; HttpOnly; Path=/; Domain=cookbook.localhost"])
    page = context.new_page()
    page.goto(planting)
    # The visitor then goes to the application: in the attacker's session without the prefix.
    assert visit(page, count) == ("1" if prefix else "3")


@pytest.mark.parametrize("httponly", [True, False], ids=["HttpOnly", "not HttpOnly"])
def test_scripts_of_the_page_cannot_read_an_httponly_cookie(httponly, tmp_path, context, server):
    changes = {} if httponly else {"httponly": ("httponly=True,", "httponly=False,")}
    recipe = server(recipe_copy("cookies", tmp_path, **changes))
    page = context.new_page()
    visit(page, f"http://127.0.0.1:{recipe.port}/count")
    seen = page.evaluate("document.cookie")
    assert (seen == "") is httponly
    assert httponly or seen.startswith("__Host-sid=")


def test_a_sibling_host_receives_nothing_of_the_cookie(tmp_path, context, server, other_site):
    recipe = server(RECIPES / "cookies" / "app.py")
    page = context.new_page()
    assert visit(page, f"http://{APP_HOST}:{recipe.port}/count") == "1"
    sibling = other_site(SIBLING_HOST, "127.0.0.1")
    visit(page, sibling.page("/", "welcome"))
    assert sibling.cookies_received and not any(sibling.cookies_received)  # the page, and its icon


@pytest.mark.parametrize("script_name", ["", "/shop"])
def test_the_path_is_slash_wherever_the_application_is_mounted(script_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parameters = web.config.session_parameters  # the recipe changes web.py's global defaults: put them back after
    for key, value in list(parameters.items()):
        monkeypatch.setitem(parameters, key, value)
    answer = import_recipe("cookies").app.request("/count", env={"SCRIPT_NAME": script_name})
    assert dict(answer.header_items)["Set-Cookie"].endswith("; HttpOnly; Path=/; Secure; SameSite=Lax")
