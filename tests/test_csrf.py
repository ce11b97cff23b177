"""What the CSRF page says beyond its transcripts, in Chromium where browsers are concerned.

Each defence is taken out in a copy of the recipe, and the attack it stops then succeeds. The
attacker's pages come from harness/other_site.py, as in test_cookies.py.
"""
import hmac
import time
from types import SimpleNamespace

import pytest

from harness.catalogue import DEMO_ACCOUNT, RECIPES_CATALOGUE
from harness.client import SESSION_COOKIES, form_field, get, post
from harness.copies import Change, recipe_copy
from harness.in_process import cookie_header, import_recipe
from harness.other_site import APP_HOST, OTHER_SITE, SIBLING_HOST
from harness.processes import start_recipe

APP = RECIPES_CATALOGUE["csrf"].app
TOKENS = "csrf_tokens.py"  # the recipe's module, linked into the login and expiry recipes
NO_CHECK = Change("the token check", old="    if not token_is_valid(session, sent):\n", new="    if False:\n", file=TOKENS)
# The hardened cookie (cookies recipe) taken out: web.py's, without SameSite; or with Lax only.
WEBPY_COOKIE = Change("the hardened cookie (web.py's own instead)", old="use_hardened_session_cookie()\n")
WEBPY_COOKIE_LAX = Change("the hardened cookie (web.py's own, with SameSite=Lax)", old="use_hardened_session_cookie()\n",
                          new='web.config.session_parameters.samesite = "Lax"\n')
KEEP_COOKIE = Change("no cookie on a refusal", old="        session.send_cookie = False\n", file=TOKENS)
# The loadhook taken out: a post without the cookie gets a new session's.
NEW_COOKIE = Change("the loadhook that sends no new cookie to a post without one",
                    old="app.add_processor(no_new_cookie_for_a_post_without_one(session))\n")
# Where the forged form comes from: (its host, the address its server listens on).
ATTACKERS = {"another site": (OTHER_SITE, OTHER_SITE), "a sibling host": (SIBLING_HOST, "127.0.0.1")}


def forge(page, attacker, form_url, message, target=None):
    """The visitor opens the attacker's page, which posts `message` to the form (or `target`) at once;
    return the status."""
    target = target or form_url
    with page.expect_response(target) as response:
        page.goto(attacker.form_posting(target, message=message))
    return response.value.status


def shown_message(page, form_url):
    page.goto(form_url)
    return page.inner_text("p")


def post_message(page, form_url, message):
    """The visitor writes `message` in the form and saves it, as in any tab."""
    page.fill("input[name=message]", message)
    with page.expect_response(form_url) as response:
        page.click("button")
    return response.value.status


def session_id(context):
    """The visitor's session id, under either name the copies give the cookie; None if none."""
    ids = [cookie["value"] for cookie in context.cookies() if cookie["name"] in SESSION_COOKIES]
    assert len(ids) <= 1, context.cookies()
    return ids[0] if ids else None


def token(page_text):
    """The CSRF token of the form's page."""
    return form_field(page_text, "csrf_token")


def attack(context, form_url, attacker):
    """The visitor saves a message, then opens the attacker's page: (status of the forged post,
    the message the visitor sees next, whether the visitor's session id stayed the same)."""
    page = context.new_page()
    page.goto(form_url)
    assert post_message(page, form_url, "mine") == 303
    before = session_id(context)
    status = forge(page, attacker, form_url, "sent by the attacker")
    return status, shown_message(page, form_url), session_id(context) == before


MINE, FORGED, LOST = "Your message: mine", "Your message: sent by the attacker", "Your message:"
# What the recipe lacks (its cookie is SameSite=Lax unless web.py's), where the attacker is ->
# (the forged post's status, the message the visitor sees next, the same session id?).
FORGERIES = {
    "recipe, from another site": ([], "another site", (403, MINE, True)),
    "recipe, from a sibling host": ([], "a sibling host", (403, MINE, True)),
    "web.py's cookie, from another site": ([WEBPY_COOKIE], "another site", (403, MINE, True)),
    # Lax keeps the cookie out of another site's post: it reaches a new session, never saved.
    "no check, from another site": ([NO_CHECK], "another site", (303, MINE, True)),
    # A sibling host is the same site: its post carries a Lax cookie.
    "no check, from a sibling host": ([NO_CHECK], "a sibling host", (303, FORGED, True)),
    "no check, web.py's cookie, from another site": ([NO_CHECK, WEBPY_COOKIE], "another site", (303, FORGED, True)),
    # Without the loadhook, web.py answers the cookieless post with a new session and its cookie:
    "no check, new cookie, from another site": ([NO_CHECK, NEW_COOKIE], "another site", (303, FORGED, False)),
    "new cookie, no cookie kept on refusal, from another site": (
        [NEW_COOKIE, KEEP_COOKIE], "another site", (403, LOST, False)),
}


@pytest.mark.browser
@pytest.mark.parametrize("case", FORGERIES)
def test_a_form_posted_from_another_page_is_refused(case, tmp_path, context, recipe_server, other_site):
    changes, where, expected = FORGERIES[case]
    recipe = recipe_server(recipe_copy("csrf", tmp_path, *changes))
    form_url = f"http://{APP_HOST}:{recipe.port}/form"
    assert attack(context, form_url, other_site(*ATTACKERS[where])) == expected


# A sibling host's way in without the token: its own session, whose token it knows, put in the
# visitor's browser. web.py reads the last cookie of a name, and the browser lists the newer last.
TOSSED_COOKIES = {"recipe": ([], MINE, "sent by the attacker"),
                  "web.py's cookie": ([WEBPY_COOKIE], FORGED, "my private note"),
                  "web.py's cookie, Lax": ([WEBPY_COOKIE_LAX], FORGED, "my private note")}


@pytest.mark.browser
@pytest.mark.parametrize("cookie", TOSSED_COOKIES)
def test_a_sibling_host_cannot_put_its_session_in_the_visitors_browser(
        cookie, tmp_path, context, recipe_server, other_site):
    """The cookie's __Host- name stops it: the browser refuses such a cookie with a Domain."""
    changes, visitor_sees, attacker_reads = TOSSED_COOKIES[cookie]
    recipe = recipe_server(recipe_copy("csrf", tmp_path, *changes))
    form_url = f"http://{APP_HOST}:{recipe.port}/form"
    page = context.new_page()
    page.goto(form_url)
    assert post_message(page, form_url, "mine") == 303
    own_form = get(recipe, "/form")  # the attacker's own session, from its server
    attackers = own_form.cookie()
    assert post(recipe, "/form", {"csrf_token": token(own_form.text), "message": "sent by the attacker"},
                cookie=attackers).status == 303
    page.goto(other_site(SIBLING_HOST, "127.0.0.1").tossing(attackers))
    assert shown_message(page, form_url) == visitor_sees
    assert post_message(page, form_url, "my private note") == 303
    assert get(recipe, "/form", cookie=attackers).text.count(f"Your message: {attacker_reads}<") == 1


def forged_without_samesite(page, form_url, attacker):  # on a copy with web.py's cookie
    """Another site's post to the form a visitor opened, its cookie without SameSite: (status, the
    message the visitor sees next, the same session id?)."""
    before = session_id(page.context)
    status = forge(page, attacker, form_url, "sent by the attacker")
    return status, shown_message(page, form_url), session_id(page.context) == before


@pytest.mark.browser
def test_chromium_sends_a_cookie_without_samesite_with_another_sites_post_at_once(
        tmp_path, context, recipe_server, other_site):
    recipe = recipe_server(recipe_copy("csrf", tmp_path, NO_CHECK, WEBPY_COOKIE))
    form_url = f"{recipe.url}/form"
    page = context.new_page()
    page.goto(form_url)
    # With the cookie, the post changes the visitor's message.
    assert forged_without_samesite(page, form_url, other_site(OTHER_SITE)) == (303, FORGED, True)


def post_not_utf8(attacker, form_url):
    """A page of the attacker's whose form posts `message=é` in windows-1252: a 0xE9 byte, not UTF-8."""
    return attacker.page("/latin", f'<form method="post" action="{form_url}" enctype="text/plain" '
                                   'accept-charset="windows-1252"><input name="message" value="\u00e9"></form>'
                                   "<script>document.forms[0].submit()</script>")


@pytest.mark.browser
@pytest.mark.parametrize("answer", [400, 404])
@pytest.mark.parametrize("defence", [True, False], ids=["loadhook", "no loadhook"])
def test_a_post_from_another_site_that_fails_keeps_the_visitors_session(
        answer, defence, tmp_path, context, recipe_server, other_site):
    """Under Lax another site's post arrives without the cookie; whatever it gets, it sends no new one."""
    recipe = recipe_server(recipe_copy("csrf", tmp_path, *([] if defence else [NEW_COOKIE])))
    form_url = f"http://{APP_HOST}:{recipe.port}/form"
    page = context.new_page()
    page.goto(form_url)
    assert post_message(page, form_url, "mine") == 303
    before = session_id(context)
    attacker = other_site(OTHER_SITE)
    if answer == 400:
        with page.expect_response(form_url) as response:
            page.goto(post_not_utf8(attacker, form_url))
        status = response.value.status
    else:
        status = forge(page, attacker, form_url, "sent by the attacker", target=form_url.replace("/form", "/nowhere"))
    assert status == answer
    assert (shown_message(page, form_url), session_id(context) == before) == ((MINE, True) if defence else (LOST, False))


@pytest.mark.parametrize("defence", [True, False], ids=["no cookie", "cookie"])
def test_a_refusal_with_the_cookie_sends_no_cookie(defence, tmp_path, recipe_server):
    server = recipe_server(recipe_copy("csrf", tmp_path, *([] if defence else [KEEP_COOKIE])))
    cookie = get(server, "/form").cookie()
    refusal = post(server, "/form", {"csrf_token": "wrong", "message": "hi"}, cookie=cookie)
    assert refusal.status == 403
    assert ("Set-Cookie" not in refusal.headers) is defence


@pytest.mark.browser
def test_two_tabs_of_one_session_both_post(context, recipe_server):
    recipe = recipe_server(APP)
    form_url = f"{recipe.url}/form"
    first, second = context.new_page(), context.new_page()
    first.goto(form_url)
    second.goto(form_url)
    for tab, message in [(first, "from the first tab"), (second, "from the second tab")]:
        assert post_message(tab, form_url, message) == 303
        assert tab.inner_text("p") == f"Your message: {message}"


def test_the_token_is_compared_with_compare_digest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # DiskStore("sessions") is relative to the working directory
    recipe = import_recipe("csrf")
    compared, original = [], hmac.compare_digest

    def compare_digest(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    page = recipe.app.request("/form")
    sent = token(page.data.decode())
    answer = recipe.app.request("/form", method="POST", data={"csrf_token": sent, "message": "hi"},
                                headers=cookie_header(page))
    assert answer.status == "303 See Other"
    assert compared == [(sent.encode(), sent.encode())]


AS_TEXT = Change("the comparison as bytes", old="hmac.compare_digest(sent.encode(), csrf_token(session).encode())",
                 new="hmac.compare_digest(sent, csrf_token(session))", file=TOKENS)


@pytest.mark.parametrize("defence", [True, False], ids=["bytes", "text"])
def test_a_token_with_non_ascii_characters_is_refused_not_an_error(defence, tmp_path, recipe_server):
    server = recipe_server(recipe_copy("csrf", tmp_path, *([] if defence else [AS_TEXT])))
    status = post(server, "/form", {"csrf_token": "\u00e9t\u00e9", "message": "hi"}).status
    assert status == (403 if defence else 500)


NOT_UTF8 = (b"csrf_token=x&message=\xff", "application/x-www-form-urlencoded")
A_FILE = ("--x\r\nContent-Disposition: form-data; name=\"csrf_token\"; filename=\"token.txt\"\r\n\r\n"
          "hi\r\n--x--\r\n", "multipart/form-data; boundary=x")
FORM_CHECKS = {  # what no form of the page sends: (body, its type), the check that refuses it
    "not UTF-8": (NOT_UTF8, Change("the check of the encoding", old="except UnicodeDecodeError:", new="except ():",
                                   file="logins.py")),
    "a file": (A_FILE, Change("the check for files", old="if not all(isinstance(value, str) for value in values):",
                              new="if False:", file="logins.py")),
}


@pytest.mark.parametrize("case", FORM_CHECKS)
@pytest.mark.parametrize("defence", [True, False], ids=["checked", "unchecked"])
def test_what_the_form_never_sends_is_a_bad_request_not_an_error(case, defence, tmp_path, recipe_server):
    (body, content_type), check = FORM_CHECKS[case]
    server = recipe_server(recipe_copy("csrf", tmp_path, *([] if defence else [check])))
    status = post(server, "/form", body=body, headers={"Content-Type": content_type}).status
    assert status == (400 if defence else 500)


NOT_ESCAPED = Change("the escaping of the message", old="html.escape(session.message)", new="session.message")


@pytest.mark.parametrize("defence", [True, False], ids=["escaped", "not escaped"])
def test_the_message_is_shown_as_text(defence, tmp_path, recipe_server):
    server = recipe_server(recipe_copy("csrf", tmp_path, *([] if defence else [NOT_ESCAPED])))
    form = get(server, "/form")
    cookie = form.cookie()
    markup = '<script>alert("hi")</script>'
    post(server, "/form", {"csrf_token": token(form.text), "message": markup}, cookie=cookie)
    shown = get(server, "/form", cookie=cookie).text
    assert (markup in shown) is not defence
    assert ("&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;" in shown) is defence


# Chromium sends a cookie without SameSite with another site's top-level post for two minutes after
# it got its value ("Lax-allowing-unsafe"), then treats it as Lax. web.py sends the same value again
# with every answer, which does not restart the two minutes; a new value, such as the login's new
# id, does. Chromium's own timer: the test really waits.
TWO_MINUTES_LATER = 125
SET_AGAIN_AFTER = 20  # when both visitors get their cookie again: well inside the two minutes
TWO_MINUTES_TEST = "test_chromium_sends_a_cookie_without_samesite_for_two_minutes_after_its_value_changes"
LOGOUT_UNCHECKED = Change("the token check at logout", old="check_token(session, sent)", new="pass", file="logout.py")


@pytest.fixture(scope="module")
def cookies_set_early(browser, tmp_path_factory):
    """Two visitors who get web.py's cookie (no SameSite) now: `same` opens the form of a csrf copy
    without the check, `new` the login form of a login copy without the logout's check. Opened at
    this file's first browser test when the two-minute test is to run (see `two_minutes_begun_early`),
    so that the wait overlaps the other tests. Yields the pages, the servers' URLs and when."""
    tmp_path = tmp_path_factory.mktemp("two-minutes")
    servers = [start_recipe(recipe_copy(slug, tmp_path / slug, *changes), tmp_path / slug)
               for slug, changes in [("csrf", [NO_CHECK, WEBPY_COOKIE]), ("login", [LOGOUT_UNCHECKED, WEBPY_COOKIE])]]
    contexts = [browser.new_context(), browser.new_context()]
    try:
        same, new = (context.new_page() for context in contexts)
        form_url, origin = f"{servers[0].url}/form", servers[1].url
        same.goto(form_url)
        new.goto(f"{origin}/login")
        yield SimpleNamespace(same=same, form_url=form_url, new=new, origin=origin, opened=time.monotonic())
    finally:
        for context in contexts:
            context.close()
        for server in servers:
            server.stop()


@pytest.fixture(autouse=True)
def two_minutes_begun_early(request):
    """At the file's first browser test, the two-minute test's visitors get their cookies, if that
    test is among those to run (`make check` leaves it out: then nothing is opened)."""
    if request.node.get_closest_marker("browser") and any(
            getattr(item, "originalname", item.name) == TWO_MINUTES_TEST and item.module is request.module
            for item in request.session.items):
        request.getfixturevalue("cookies_set_early")


def wait_until(moment):
    time.sleep(max(0.0, moment - time.monotonic()))


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.upstream
def test_chromium_sends_a_cookie_without_samesite_for_two_minutes_after_its_value_changes(cookies_set_early,
                                                                                          other_site):
    """The wait began when the visitors got their cookies, possibly at the file's first browser test.

    The login (a new value) comes before the visit (the same value), and the forged posts in the
    other order: so when the login's cookie goes with its post, less than two minutes after the
    login, the visit's cookie was also set again less than two minutes before its own post."""
    early, attacker = cookies_set_early, other_site(OTHER_SITE)
    wait_until(early.opened + SET_AGAIN_AFTER)
    before = session_id(early.new.context)
    early.new.fill("input[name=username]", DEMO_ACCOUNT["username"])
    early.new.fill("input[name=password]", DEMO_ACCOUNT["password"])
    with early.new.expect_navigation(url=f"{early.origin}/whoami"):
        early.new.click("button")
    assert early.new.inner_text("body") == DEMO_ACCOUNT["username"]
    assert session_id(early.new.context) not in (None, before)  # the login's new id: a new value
    same = session_id(early.same.context)
    visit = early.same.goto(early.form_url)
    assert visit.header_value("set-cookie").startswith(f"webpy_session_id={same};")  # the same value, set again
    wait_until(early.opened + TWO_MINUTES_LATER)
    assert time.monotonic() - early.opened >= TWO_MINUTES_LATER
    # The value set again, first got two minutes ago: the post reaches a new session, nothing saved.
    assert forged_without_samesite(early.same, early.form_url, attacker) == (303, LOST, True)
    # The new value, less than two minutes old: the post carries it, and logs the visitor out.
    logout = f"{early.origin}/logout"
    with early.new.expect_response(logout) as forged:
        early.new.goto(attacker.form_posting(logout))
    assert forged.value.status == 303
    early.new.goto(f"{early.origin}/whoami")
    assert early.new.inner_text("body") == "anonymous"
