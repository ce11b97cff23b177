"""What the CSRF page says beyond its transcripts, in Chromium where browsers are concerned.

Each defence is taken out in a copy of the recipe, and the attack it stops then succeeds.
"""
import hmac
import time

import pytest

from harness import import_recipe, start_recipe
from test_cookies import APP_HOST, OTHER_SITE, SIBLING_HOST, context, other_site, recipe_copy, server  # noqa: F401
from test_login import request, session_cookie

NO_CHECK = {"check": ("        if not token_is_valid(sent):\n", "        if False:\n")}
LAX = {"lax": ("web.config.debug = False\n", 'web.config.debug = False\nweb.config.session_parameters.samesite = "Lax"\n')}
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
    return {cookie["name"]: cookie["value"] for cookie in context.cookies()}["webpy_session_id"]


def attack(context, form_url, attacker):
    """The visitor saves a message, then opens the attacker's page: (status of the forged post,
    the message the visitor sees next, whether the visitor's session id stayed the same)."""
    page = context.new_page()
    page.goto(form_url)
    assert post_message(page, form_url, "mine") == 303
    before = session_id(context)
    status = forge(page, attacker, form_url, "sent by the attacker")
    return status, shown_message(page, form_url), session_id(context) == before


KEEP_COOKIE = {"keep": ("            session.send_cookie = False\n", "")}
# The loadhook taken out: a post without the cookie gets a new session's.
NEW_COOKIE = {"hook": ("app.add_processor(web.loadhook(no_new_cookie_for_a_post_without_one))\n", "")}
MINE, FORGED, LOST = "Your message: mine", "Your message: sent by the attacker", "Your message:"
# What the recipe lacks, its cookie's SameSite, where the attacker is ->
# (the forged post's status, the message the visitor sees next, the same session id?).
FORGERIES = {
    "recipe, from another site": ({}, "absent", "another site", (403, MINE, True)),
    "recipe, from a sibling host": ({}, "absent", "a sibling host", (403, MINE, True)),
    "recipe, Lax, from another site": ({}, "Lax", "another site", (403, MINE, True)),
    "no check, from another site": (NO_CHECK, "absent", "another site", (303, FORGED, True)),
    "no check, from a sibling host": (NO_CHECK, "absent", "a sibling host", (303, FORGED, True)),
    "no check, Lax, from a sibling host": (NO_CHECK, "Lax", "a sibling host", (303, FORGED, True)),
    # Lax keeps the cookie out of the post; without the loadhook, web.py answers with a new
    # session and its cookie:
    "no check, new cookie, Lax, from another site": (
        {**NO_CHECK, **NEW_COOKIE}, "Lax", "another site", (303, FORGED, False)),
    "new cookie, no cookie kept on refusal, Lax, from another site": (
        {**NEW_COOKIE, **KEEP_COOKIE}, "Lax", "another site", (403, LOST, False)),
}


@pytest.mark.parametrize("case", FORGERIES)
def test_a_form_posted_from_another_page_is_refused(case, tmp_path, context, server, other_site):
    changes, samesite, where, expected = FORGERIES[case]
    recipe = server(recipe_copy("csrf", tmp_path, **changes, **(LAX if samesite == "Lax" else {})))
    form_url = f"http://{APP_HOST}:{recipe.port}/form"
    assert attack(context, form_url, other_site(*ATTACKERS[where])) == expected


@pytest.fixture(scope="module", autouse=True)
def form_opened_as_the_file_starts(browser, tmp_path_factory):
    """A visitor who opens the form of a copy without the check before this file's first test:
    the two-minute test, the file's last, then waits only what the other tests have not taken.
    (form_url, page, when it was opened)."""
    tmp_path = tmp_path_factory.mktemp("two-minutes")
    recipe = start_recipe(recipe_copy("csrf", tmp_path, **NO_CHECK), tmp_path)
    context = browser.new_context()
    try:
        form_url = f"http://127.0.0.1:{recipe.port}/form"
        page = context.new_page()
        page.goto(form_url)
        yield form_url, page, time.monotonic()
    finally:
        context.close()
        recipe.stop()


def forged_without_samesite(page, form_url, attacker):
    """Another site's post to the form a visitor opened, its cookie without SameSite: (status, the
    message the visitor sees next, the same session id?)."""
    before = session_id(page.context)
    status = forge(page, attacker, form_url, "sent by the attacker")
    return status, shown_message(page, form_url), session_id(page.context) == before


def test_chromium_sends_a_cookie_without_samesite_with_another_sites_post_at_once(
        tmp_path, context, server, other_site):
    recipe = server(recipe_copy("csrf", tmp_path, **NO_CHECK))
    form_url = f"http://127.0.0.1:{recipe.port}/form"
    page = context.new_page()
    page.goto(form_url)
    # With the cookie, the post changes the visitor's message.
    assert forged_without_samesite(page, form_url, other_site(OTHER_SITE)) == (303, FORGED, True)


def post_not_utf8(attacker, form_url):
    """A page of the attacker's whose form posts `message=é` in windows-1252: a 0xE9 byte, not UTF-8."""
    return attacker.page("/latin", f'<form method="post" action="{form_url}" enctype="text/plain" '
                                   'accept-charset="windows-1252"><input name="message" value="\u00e9"></form>'
                                   "<script>document.forms[0].submit()</script>")


@pytest.mark.parametrize("answer", [400, 404])
@pytest.mark.parametrize("defence", [True, False], ids=["loadhook", "no loadhook"])
def test_a_post_from_another_site_that_fails_keeps_the_visitors_session(
        answer, defence, tmp_path, context, server, other_site):
    """Under Lax another site's post arrives without the cookie; whatever it gets, it sends no new one."""
    recipe = server(recipe_copy("csrf", tmp_path, **LAX, **({} if defence else NEW_COOKIE)))
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
def test_a_refusal_with_the_cookie_sends_no_cookie(defence, tmp_path):
    keep = {"keep": ("            session.send_cookie = False\n            raise web.forbidden(",
                     "            raise web.forbidden(")}
    server = running(tmp_path, defence, keep)
    try:
        cookie = session_cookie(request(server, "GET", "/form")[1])
        status, headers, _ = request(server, "POST", "/form", cookie, {"csrf_token": "wrong", "message": "hi"})
    finally:
        server.stop()
    assert status == 403
    assert ("Set-Cookie" not in headers) is defence


def test_two_tabs_of_one_session_both_post(tmp_path, context, server):
    recipe = server(recipe_copy("csrf", tmp_path))
    form_url = f"http://127.0.0.1:{recipe.port}/form"
    first, second = context.new_page(), context.new_page()
    first.goto(form_url)
    second.goto(form_url)
    for tab, message in [(first, "from the first tab"), (second, "from the second tab")]:
        assert post_message(tab, form_url, message) == 303
        assert tab.inner_text("p") == f"Your message: {message}"


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    """recipes/csrf/app.py imported, to drive with app.request(); its sessions in tmp_path."""
    monkeypatch.chdir(tmp_path)
    return import_recipe("csrf")


def test_the_token_is_compared_with_compare_digest(recipe, monkeypatch):
    compared, original = [], hmac.compare_digest

    def compare_digest(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    page = recipe.app.request("/form")
    cookie = dict(page.header_items)["Set-Cookie"].split(";")[0]
    token = page.data.decode().split('name="csrf_token" value="')[1].split('"')[0]
    answer = recipe.app.request("/form", method="POST", data={"csrf_token": token, "message": "hi"},
                                headers={"Cookie": cookie})
    assert answer.status == "303 See Other"
    assert compared == [(token.encode(), token.encode())]


def running(tmp_path, defence, changes):
    return start_recipe(recipe_copy("csrf", tmp_path, **({} if defence else changes)), tmp_path)


@pytest.mark.parametrize("defence", [True, False], ids=["bytes", "text"])
def test_a_token_with_non_ascii_characters_is_refused_not_an_error(defence, tmp_path):
    as_text = {"text": ("hmac.compare_digest(sent.encode(), csrf_token().encode())",
                        "hmac.compare_digest(sent, csrf_token())")}
    server = running(tmp_path, defence, as_text)
    try:
        status = request(server, "POST", "/form", form={"csrf_token": "\u00e9t\u00e9", "message": "hi"})[0]
    finally:
        server.stop()
    assert status == (403 if defence else 500)


NOT_UTF8 = (b"csrf_token=x&message=\xff", "application/x-www-form-urlencoded")
A_FILE = ("--x\r\nContent-Disposition: form-data; name=\"csrf_token\"; filename=\"token.txt\"\r\n\r\n"
          "hi\r\n--x--\r\n", "multipart/form-data; boundary=x")
FORM_CHECKS = {  # what no form of the page sends: (body, its type), the check that refuses it, undone
    "not UTF-8": (NOT_UTF8, {"check": ("except UnicodeDecodeError:", "except ():")}),
    "a file": (A_FILE, {"check": ("if not all(isinstance(value, str) for value in values):", "if False:")}),
}


@pytest.mark.parametrize("case", FORM_CHECKS)
@pytest.mark.parametrize("defence", [True, False], ids=["checked", "unchecked"])
def test_what_the_form_never_sends_is_a_bad_request_not_an_error(case, defence, tmp_path):
    (body, content_type), changes = FORM_CHECKS[case]
    server = running(tmp_path, defence, changes)
    try:
        status = request(server, "POST", "/form", body=body, content_type=content_type)[0]
    finally:
        server.stop()
    assert status == (400 if defence else 500)


@pytest.mark.parametrize("defence", [True, False], ids=["escaped", "not escaped"])
def test_the_message_is_shown_as_text(defence, tmp_path):
    raw = {"escape": ("html.escape(session.message)", "session.message")}
    server = running(tmp_path, defence, raw)
    try:
        status, headers, body = request(server, "GET", "/form")
        cookie = session_cookie(headers)
        token = body.split('name="csrf_token" value="')[1].split('"')[0]
        markup = '<script>alert("hi")</script>'
        request(server, "POST", "/form", cookie, {"csrf_token": token, "message": markup})
        shown = request(server, "GET", "/form", cookie)[2]
    finally:
        server.stop()
    assert (markup in shown) is not defence
    assert ("&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;" in shown) is defence


def test_chromium_no_longer_sends_a_cookie_without_samesite_125_seconds_later(form_opened_as_the_file_starts, other_site):
    """Last in the file: the 125 seconds began before its first test."""
    form_url, page, opened = form_opened_as_the_file_starts
    time.sleep(max(0.0, opened + 125 - time.monotonic()))
    # Without the cookie, the post reaches a new session, and nothing is saved.
    assert forged_without_samesite(page, form_url, other_site(OTHER_SITE)) == (303, LOST, True)
