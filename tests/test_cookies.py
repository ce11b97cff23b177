"""What the hardened cookie page says of browsers, shown in Chromium; each attribute with and without it.

The recipe runs on 127.0.0.1 or on a name under `cookbook.localhost`, which Chromium resolves to
the loopback address itself. Another site's pages come from a small server of the test's own
(harness/other_site.py): on 127.0.0.2, another site for Chromium (IP hosts are sites of their
own), or on `evil.cookbook.localhost`, the same site as `app.cookbook.localhost` but another host.
"""
import pytest
import web

from harness import RECIPES
from harness.browser import CHROMIUM, CHROMIUM_ARGS
from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get
from harness.copies import Change, recipe_copy
from harness.in_process import import_recipe
from harness.other_site import APP_HOST, OTHER_SITE, SIBLING_HOST

APP = RECIPES_CATALOGUE["cookies"].app


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


COOKIE = "hardened_cookie.py"
NO_SAMESITE = Change("the SameSite attribute", old="        samesite=samesite,", file=COOKIE)
NO_LOADHOOK = Change("the loadhook that sends no new cookie to a post without one",
                     old="app.add_processor(no_new_cookie_for_a_post_without_one(session))")
NO_PREFIX = Change("the __Host- prefix", old='cookie_name="__Host-sid"', new='cookie_name="sid"', file=COOKIE)
NOT_SECURE = Change("Secure", old="secure=True,", new="secure=False,", file=COOKIE)
NOT_HTTPONLY = Change("HttpOnly", old="httponly=True,", new="httponly=False,", file=COOKIE)

# SameSite value (None: no attribute) -> (a link from another site, then a form of another
# site posting /reset, then the visitor's next visit): the counts the visitor sees after two visits.
SAMESITE = {
    "Lax": ("3", "4"),  # the link carries the cookie; the form posts without it: nothing reset
    "Strict": ("1", "2"),  # the link arrives without it: a new session, whose cookie replaces the old one
    "None": ("3", "1"),  # both carry it: the other site resets the visitor's count
    "absent": ("3", "1"),  # no attribute, web.py's default: right after the visit, as None
}


@pytest.mark.browser
@pytest.mark.parametrize("samesite", SAMESITE)
def test_samesite_decides_what_another_sites_link_and_form_carry(samesite, tmp_path, context, recipe_server, other_site):
    if samesite == "absent":
        recipe = recipe_server(recipe_copy("cookies", tmp_path, NO_SAMESITE))
    else:
        recipe = recipe_server(APP, {"SESSION_COOKIE_SAMESITE": samesite})
    count, reset = f"{recipe.url}/count", f"{recipe.url}/reset"
    attacker = other_site(OTHER_SITE)
    page = context.new_page()
    assert [visit(page, count), visit(page, count)] == ["1", "2"]
    after_link = follow(page, attacker.link_to(count), count)
    assert follow(page, attacker.form_posting(reset), reset) == "Reset"
    assert (after_link, visit(page, count)) == SAMESITE[samesite]


@pytest.mark.browser
@pytest.mark.parametrize("path, status", [("/count", 405), ("/nowhere", 404)])
@pytest.mark.parametrize("defence", [True, False], ids=["loadhook", "no loadhook"])
def test_another_sites_form_leaves_the_visitors_cookie_whatever_its_answer(
        path, status, defence, tmp_path, context, recipe_server, other_site):
    """Under Lax the form posts without the cookie; a 405 or 404 must not send a new session's."""
    recipe = recipe_server(recipe_copy("cookies", tmp_path, *([] if defence else [NO_LOADHOOK])))
    count = f"{recipe.url}/count"
    page = context.new_page()
    assert [visit(page, count), visit(page, count)] == ["1", "2"]
    target = f"{recipe.url}{path}"
    with page.expect_response(target) as response:
        page.goto(other_site(OTHER_SITE).form_posting(target))
    assert response.value.status == status
    assert visit(page, count) == ("3" if defence else "1")


@pytest.mark.browser
@pytest.mark.parametrize("samesite, counts", [("None", ["1", "1"]), ("Lax", ["1", "2"])])
def test_chromium_drops_a_samesite_none_cookie_without_secure(samesite, counts, tmp_path, context, recipe_server):
    """web.py sends SameSite=None without Secure if asked to; Chromium keeps no such cookie."""
    recipe = recipe_server(recipe_copy("cookies", tmp_path, NO_PREFIX, NOT_SECURE), {"SESSION_COOKIE_SAMESITE": samesite})
    cookie = get(recipe, "/count").headers["Set-Cookie"]
    assert cookie.endswith(f"; HttpOnly; Path=/; SameSite={samesite}") and "Secure" not in cookie
    page = context.new_page()
    assert [visit(page, f"{recipe.url}/count"), visit(page, f"{recipe.url}/count")] == counts
    assert [cookie["name"] for cookie in context.cookies()] == ([] if samesite == "None" else ["sid"])


@pytest.fixture(scope="module")
def chromium_with_a_name(browser):
    """Chromium reaching `cookbook.test` (not a loopback name) at 127.0.0.1, as it would a real host."""
    chromium = browser.browser_type.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP cookbook.test 127.0.0.1"])
    yield chromium
    chromium.close()


@pytest.mark.browser
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", APP_HOST, "cookbook.test"])
@pytest.mark.parametrize("secure", [True, False], ids=["Secure", "not Secure"])
def test_chromium_takes_a_secure_cookie_over_http_from_loopback_hosts_only(
        host, secure, tmp_path, recipe_server, browser, chromium_with_a_name):
    recipe = recipe_server(recipe_copy("cookies", tmp_path, *([] if secure else [NO_PREFIX, NOT_SECURE])))
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


def domain(value):
    return Change("no Domain", old="cookie_domain=None,", new=f'cookie_domain="{value}",', file=COOKIE)


# What breaks each rule of the __Host- prefix in a copy of the recipe, and the host visited.
HOST_RULES = {
    "Secure, Path=/, no Domain": ([], APP_HOST),
    "not Secure": ([NOT_SECURE], APP_HOST),
    "Path=/count": ([Change("Path=/", old='cookie_path="/",', new='cookie_path="/count",', file=COOKIE)], APP_HOST),
    "Domain=app.cookbook.localhost": ([domain(APP_HOST)], APP_HOST),
    "Domain=127.0.0.1 on 127.0.0.1": ([domain("127.0.0.1")], "127.0.0.1"),
    "Domain=127.0.0.2 on 127.0.0.1": ([domain("127.0.0.2")], "127.0.0.1"),
}


@pytest.mark.browser
@pytest.mark.parametrize("rule", HOST_RULES)
def test_chromium_keeps_a_host_prefixed_cookie_only_by_the_rules(rule, tmp_path, context, recipe_server):
    changes, host = HOST_RULES[rule]
    recipe = recipe_server(recipe_copy("cookies", tmp_path, *changes))
    count = f"http://{host}:{recipe.port}/count"
    page = context.new_page()
    counts = [visit(page, count), visit(page, count)]
    # A Domain equal to the IP address visited makes a host-only cookie in Chromium, which the prefix allows.
    kept = rule in ("Secure, Path=/, no Domain", "Domain=127.0.0.1 on 127.0.0.1")
    assert counts == (["1", "2"] if kept else ["1", "1"])


@pytest.mark.browser
@pytest.mark.parametrize("prefix", [True, False], ids=["__Host-sid", "sid"])
def test_a_sibling_host_cannot_plant_a_host_prefixed_session(prefix, tmp_path, context, recipe_server, other_site):
    name = "__Host-sid" if prefix else "sid"
    recipe = recipe_server(recipe_copy("cookies", tmp_path, *([] if prefix else [NO_PREFIX])))
    count = f"http://{APP_HOST}:{recipe.port}/count"
    # The attacker opens a session of their own, and counts twice in it.
    attacker = get(recipe, "/count").cookie(name)
    assert get(recipe, "/count", cookie=attacker).text == "2"
    # Their page on a sibling host sets it for the whole of cookbook.localhost, with the rest of the rules kept.
    sibling = other_site(SIBLING_HOST, "127.0.0.1")
    planting = sibling.page("/", "welcome", [f"{attacker}; Secure; HttpOnly; Path=/; Domain=cookbook.localhost"])
    page = context.new_page()
    page.goto(planting)
    # The visitor then goes to the application: in the attacker's session without the prefix.
    assert visit(page, count) == ("1" if prefix else "3")


@pytest.mark.browser
@pytest.mark.parametrize("httponly", [True, False], ids=["HttpOnly", "not HttpOnly"])
def test_scripts_of_the_page_cannot_read_an_httponly_cookie(httponly, tmp_path, context, recipe_server):
    recipe = recipe_server(recipe_copy("cookies", tmp_path, *([] if httponly else [NOT_HTTPONLY])))
    page = context.new_page()
    visit(page, f"{recipe.url}/count")
    seen = page.evaluate("document.cookie")
    assert (seen == "") is httponly
    assert httponly or seen.startswith("__Host-sid=")


@pytest.mark.browser
def test_a_sibling_host_receives_nothing_of_the_cookie(context, recipe_server, other_site):
    recipe = recipe_server(APP)
    page = context.new_page()
    assert visit(page, f"http://{APP_HOST}:{recipe.port}/count") == "1"
    sibling = other_site(SIBLING_HOST, "127.0.0.1")
    visit(page, sibling.page("/", "welcome"))
    assert sibling.cookies_received and not any(sibling.cookies_received)  # the page, and its icon


@pytest.mark.parametrize("script_name", ["", "/shop"])
def test_the_path_is_slash_wherever_the_application_is_mounted(script_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    answer = import_recipe("cookies").app.request("/count", env={"SCRIPT_NAME": script_name})
    assert dict(answer.header_items)["Set-Cookie"].endswith("; HttpOnly; Path=/; Secure; SameSite=Lax")


INSTALLED = "app.add_processor(keep_sessions_out_of_caches)"


def without_cache_control(slug):
    """The change that takes cache_control.py's processor out of a recipe, in the file that adds it."""
    file = next(path.name for path in sorted((RECIPES / slug).glob("*.py"))
                if path.name != "cache_control.py" and INSTALLED in path.read_text())
    return Change("the processor of cache_control.py", old=INSTALLED, file=file)


def cache_control(answer):
    return answer.headers.get_all("Cache-Control") or []


@pytest.mark.parametrize("slug", RECIPES_CATALOGUE)
def test_no_cache_may_keep_a_session_page_and_any_may_keep_a_public_one(slug, tmp_path, services, recipe_server):
    """On every recipe: its entry page, to a new and to a returning visitor, and a page it does not have,
    say `no-store`; its public page, if it has one, says `public` and sets no cookie. Without the
    processor, in a copy, the entry page says nothing of caching."""
    recipe = RECIPES_CATALOGUE[slug]
    environment = services.environment(recipe.services)
    (tmp_path / "run").mkdir()
    server = recipe_server(recipe.app, environment, cwd=tmp_path / "run")
    first = get(server, recipe.entry)
    assert first.cookie(recipe.cookie) and cache_control(first) == ["no-store"], first.headers
    returning = first.cookie(recipe.cookie)
    for path in (recipe.entry, "/nowhere"):
        assert cache_control(get(server, path, cookie=returning)) == ["no-store"], path
    if recipe.public:
        for cookie in (None, returning):
            answer = get(server, recipe.public, cookie=cookie)
            assert (cache_control(answer), answer.cookie(recipe.cookie)) == (["public, max-age=300"], None)
    server.stop()
    copy = recipe_copy(slug, tmp_path / "copy", without_cache_control(slug))
    services.environment(recipe.services)  # emptied again: the copy starts as the recipe did
    (tmp_path / "copy-run").mkdir()
    answer = get(recipe_server(copy, environment, cwd=tmp_path / "copy-run"), recipe.entry)
    assert answer.cookie(recipe.cookie) and cache_control(answer) == [], answer.headers


def test_a_handlers_cache_control_is_kept_only_when_no_cookie_goes_out(tmp_path, monkeypatch):
    """A page that says `public` and sends no cookie keeps its word; one that sets a cookie gets
    `no-store` instead. Without the processor the second says `public` with the visitor's id."""
    monkeypatch.chdir(tmp_path)
    copy = recipe_copy("cookies", tmp_path / "copy", without_cache_control("cookies"))
    answers = {}
    for name, app in [("recipe", None), ("copy", copy)]:
        recipe = import_recipe("cookies", app)

        class public:
            def GET(self, cookie):
                web.header("Cache-Control", "public, max-age=300")
                recipe.session.send_cookie = cookie == "cookie"
                return "one page, whoever asks"

        recipe.app.add_mapping("/public/(no-cookie|cookie)", public)
        answers[name] = [[(header, value.split("=")[0] if header == "Set-Cookie" else value)
                          for header, value in recipe.app.request(path).header_items
                          if header in ("Cache-Control", "Set-Cookie")]
                         for path in ("/public/no-cookie", "/public/cookie")]
    public = ("Cache-Control", "public, max-age=300")
    assert answers["recipe"] == [[public], [("Set-Cookie", "__Host-sid"), ("Cache-Control", "no-store")]]
    assert answers["copy"] == [[public], [public, ("Set-Cookie", "__Host-sid")]]
