"""What the login page says beyond its transcripts; the expiry recipe has the same interface.

Each defence is removed in a copy of the recipe, and the attack it stops then succeeds.
"""
import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import web

from harness import RECIPES
from harness.catalogue import DEMO_ACCOUNT, LOGIN_RECIPES
from harness.client import form_field, get, post, post_form, request
from harness.copies import HOLD, Change, Holds, recipe_copy
from harness.in_process import Clock, import_recipe, post_form as post_form_in_process
from harness.other_site import APP_HOST, OTHER_SITE, SIBLING_HOST
from harness.processes import processor_seconds


def copy(slug, tmp_path, defence, *changes):
    """The recipe itself, or with `defence=False` a copy in tmp_path with `changes` made."""
    return recipe_copy(slug, tmp_path, *([] if defence else changes))


def log_in(server, cookie=None, **fields):
    """The login form posted with the demo account (or `fields`), as a browser posts it: its token sent too."""
    response = post_form(server, "/login", dict(DEMO_ACCOUNT, **fields), cookie=cookie)
    assert response.status == 303 and response.headers["Location"].endswith("/whoami"), response.status
    return response.cookie()


def login_form(server):
    """A new visitor's session cookie, and the token of the login form it is shown."""
    page = get(server, "/login")
    return page.cookie(), form_field(page.text, "csrf_token")


def whoami(server, cookie):
    return get(server, "/whoami", cookie=cookie).text


def logout_token(server, cookie):
    """The CSRF token of the logout form the session `cookie` is shown."""
    return form_field(get(server, "/logout", cookie=cookie).text, "csrf_token")


def log_out(server, cookie, token=None):
    """POST /logout as the form does, with its token (fetched when not given)."""
    return post(server, "/logout", {"csrf_token": token or logout_token(server, cookie)}, cookie=cookie)


ROTATION = Change("the id rotation at login", "        rotate_session_id(session)\n")
LOGINS = "logins.py"  # the login recipe's modules, linked into expiry's folder
LOGOUT = "logout.py"
WEBPY_COOKIE = Change("the hardened cookie (web.py's own instead)", "use_hardened_session_cookie()")


@pytest.mark.browser
@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["__Host- cookie", "web.py's cookie"])
def test_a_sibling_host_cannot_log_the_visitor_into_its_account(slug, defence, tmp_path, context, recipe_server,
                                                                 other_site):
    """Another host of the domain logs in on its own server and sets that session's cookie for the
    whole domain: with web.py's cookie, the visitor is then logged in as the attacker, no form posted."""
    recipe = recipe_server(recipe_copy(slug, tmp_path, *([] if defence else [WEBPY_COOKIE])))
    whoami_url = f"http://{APP_HOST}:{recipe.port}/whoami"
    page = context.new_page()
    page.goto(whoami_url)
    assert page.inner_text("body") == "anonymous"
    page.goto(other_site(SIBLING_HOST, "127.0.0.1").tossing(log_in(recipe)))
    page.goto(whoami_url)
    assert page.inner_text("body") == ("anonymous" if defence else DEMO_ACCOUNT["username"])


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["rotation", "no rotation"])
def test_an_id_planted_before_login_is_worthless_after(slug, defence, tmp_path, recipe_server):
    server = recipe_server(copy(slug, tmp_path, defence, ROTATION))
    planted = get(server, "/whoami").cookie()  # the attacker's id
    victims = log_in(server, planted)
    assert (victims != planted) is defence
    assert whoami(server, planted) == ("anonymous" if defence else "alice")


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["old entry deleted", "old entry kept"])
def test_login_moves_the_data_to_the_new_id_and_deletes_the_old_one(slug, defence, tmp_path, recipe_server):
    server = recipe_server(copy(slug, tmp_path, defence, Change("the old entry's deletion at login",
                                                                "    del session.store[old_id]\n", file=LOGINS)))
    store = web.session.DiskStore(str(tmp_path / "sessions"))
    old = get(server, "/whoami").cookie()
    old_id = old.split("=")[1]
    store[old_id] = dict(store[old_id], cart=["tea"])  # what a visitor did before logging in
    new_id = log_in(server, old).split("=")[1]
    with_the_old_id = get(server, "/whoami", cookie=old)
    assert store[new_id]["cart"] == ["tea"]
    # Without the deletion, whoever holds the old id still has the session as it was: anonymous.
    assert (old_id in store) is not defence
    assert (with_the_old_id.cookie() == old) is not defence
    assert with_the_old_id.text == "anonymous"


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["hash for unknown names", "early return"])
def test_an_unknown_name_answers_as_a_wrong_password_and_as_slowly(slug, defence, tmp_path, recipe_server):
    early_return = Change("the hashing for unknown names", "    salt, expected = USERS.get(username, NOBODY)\n",
                          "    if username not in USERS:\n        return False\n    salt, expected = USERS[username]\n",
                          file=LOGINS)
    server = recipe_server(copy(slug, tmp_path, defence, early_return))
    seconds = {"alice": 0.0, "bob": 0.0}
    answers = set()
    cookie, token = login_form(server)  # one session: the same page, token included, for every failure
    for _ in range(3):
        for name in seconds:
            before = processor_seconds(server)
            response = post(server, "/login", {"username": name, "password": "queen", "csrf_token": token},
                            cookie=cookie)
            seconds[name] += processor_seconds(server) - before
            answers.add((response.status, response.text))
    assert len(answers) == 1 and answers.pop()[0] == 401
    # The server's processor time, not the clock: what the answer costs, whatever else the machine runs.
    ratio = seconds["bob"] / seconds["alice"]
    if defence:
        assert 0.5 < ratio < 2, seconds
    else:
        assert ratio < 0.2, seconds


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["kill", "no kill"])
def test_logging_out_makes_a_copy_of_the_cookie_worthless(slug, defence, tmp_path, recipe_server):
    kill = Change("the kill at logout", "session.kill()", "pass", file=LOGOUT)
    server = recipe_server(copy(slug, tmp_path, defence, kill))
    cookie = log_in(server)
    logout = log_out(server, cookie)
    assert logout.status == 303 and logout.headers["Location"].endswith("/login")
    assert whoami(server, cookie) == ("anonymous" if defence else "alice")


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
def test_one_user_may_be_logged_in_in_several_sessions_at_once(slug, recipe_server):
    """Nothing ends a user's other sessions at login: the checklist's simultaneous logons."""
    server = recipe_server(recipe_copy(slug, None))
    first, second = log_in(server), log_in(server)
    assert first != second
    assert [whoami(server, first), whoami(server, second)] == ["alice", "alice"]


HELD_PASSWORD = "a wrong password, held"
# A copy whose login, given this password, stops once the session is loaded, until the test's go.
HELD_LOGIN = [Change("nothing: adds the test's hold()", "def credentials_match(username, password):\n",
                     HOLD + "def credentials_match(username, password):\n", file=LOGINS),
              Change("nothing: a login with the held password waits for the test",
                     "    salt, expected = USERS.get(username, NOBODY)\n",
                     f"    if password == {HELD_PASSWORD!r}:\n        hold()\n"
                     "    salt, expected = USERS.get(username, NOBODY)\n", file=LOGINS)]
WEB_PY_STORE = Change("FinalDiskStore", 'FinalDiskStore("sessions")', 'web.session.DiskStore("sessions")')


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["FinalDiskStore", "web.py's DiskStore"])
def test_a_request_running_at_logout_does_not_bring_the_login_back(slug, defence, tmp_path, recipe_server):
    """web.py saves the session after each request, here after the logout that deleted it.

    A wrong login holds the session: it has loaded it, the logout runs to its end, then it goes on.
    """
    trials = 2  # the order is made, not hoped for: two are enough to show it holds twice
    server = recipe_server(recipe_copy(slug, tmp_path, *HELD_LOGIN, *([] if defence else [WEB_PY_STORE])))
    holds = Holds(tmp_path, trials)
    answers = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for trial in range(1, trials + 1):
            cookie = log_in(server)
            token = logout_token(server, cookie)
            held = pool.submit(post, server, "/login", dict(DEMO_ACCOUNT, password=HELD_PASSWORD, csrf_token=token),
                               cookie=cookie)
            holds.wait(trial)
            logout = log_out(server, cookie, token).status
            holds.release(trial)
            answers.append({"answers": (logout, held.result().status), "copy sees": whoami(server, cookie),
                            "in the store": (tmp_path / "sessions" / cookie.split("=")[1]).exists()})
    assert [answer["answers"] for answer in answers] == [(303, 401)] * trials, answers
    if defence:
        assert [answer["copy sees"] for answer in answers] == ["anonymous"] * trials, answers
        assert not any(answer["in the store"] for answer in answers), answers
    else:  # the login is back, for as long as the cookie is used
        assert [answer["copy sees"] for answer in answers] == ["alice"] * trials, answers
        assert all(answer["in the store"] for answer in answers), answers


# TOKEN: the form's token, put in by the test, so that the token check lets the body through.
NOT_UTF8 = (b"csrf_token=TOKEN&username=alice&password=\xff", "application/x-www-form-urlencoded")
A_FILE = ("--x\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nTOKEN\r\n"
          "--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n"
          "--x\r\nContent-Disposition: form-data; name=\"password\"; filename=\"p.txt\"\r\n\r\n"
          "wonderland\r\n--x--\r\n", "multipart/form-data; boundary=x")
FORM_CHECKS = {  # what no login form sends: (body, its type), the check that refuses it, undone
    "not UTF-8": (NOT_UTF8, Change("the check for a body not in UTF-8", "except UnicodeDecodeError:", "except ():",
                                   file=LOGINS)),
    "a file": (A_FILE, Change("the check for a file in the form",
                              "if not all(isinstance(value, str) for value in values):", "if False:", file=LOGINS)),
}


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("case", FORM_CHECKS)
@pytest.mark.parametrize("defence", [True, False], ids=["checked", "unchecked"])
def test_what_no_login_form_sends_is_a_bad_request_not_an_error(slug, case, defence, tmp_path, recipe_server):
    (body, content_type), check = FORM_CHECKS[case]
    server = recipe_server(copy(slug, tmp_path, defence, check))
    cookie, token = login_form(server)
    body = body.replace(b"TOKEN", token.encode()) if isinstance(body, bytes) else body.replace("TOKEN", token)
    response = post(server, "/login", body=body, headers={"Content-Type": content_type}, cookie=cookie)
    assert response.status == (400 if defence else 500)
    assert ("Traceback" in server.log()) is not defence


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["body only", "query string too"])
def test_a_password_in_the_url_is_not_read(slug, defence, tmp_path, recipe_server):
    """web.input() reads the query string as well as the body unless told _method="post"."""
    body_only = Change("the body-only reading of the form", 'web.input(_method="post", ', "web.input(", file=LOGINS)
    server = recipe_server(copy(slug, tmp_path, defence, body_only))
    cookie, token = login_form(server)
    form = {"username": "alice", "csrf_token": token}
    assert request(server, "/login?password=wonderland", "POST", form=form, cookie=cookie).status == (
        401 if defence else 303)


def test_the_password_is_kept_as_a_salted_scrypt_hash():
    """In logins.py, which the expiry recipe links to as well."""
    logins = import_recipe("login", RECIPES / "login" / LOGINS)
    salt, stored = logins.USERS["alice"]
    assert stored == hashlib.scrypt(b"wonderland", salt=salt, n=2**14, r=8, p=5)
    assert len(salt) == 16
    assert logins.credentials_match("alice", "wonderland")
    assert not logins.credentials_match("alice", "Wonderland")
    assert not logins.credentials_match("bob", "wonderland")


LOGOUT_CHECK = Change("the token check at logout", "check_token(session, sent)", "pass", file=LOGOUT)


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["token checked", "no token check"])
def test_a_logout_without_the_forms_token_is_refused_and_changes_nothing(slug, defence, tmp_path, recipe_server):
    server = recipe_server(copy(slug, tmp_path, defence, LOGOUT_CHECK))
    cookie = log_in(server)
    answers = [post(server, "/logout", form, cookie=cookie) for form in ({}, {"csrf_token": "forged"})]
    assert [answer.status for answer in answers] == ([403, 403] if defence else [303, 303])
    assert whoami(server, cookie) == ("alice" if defence else "anonymous")
    if defence:  # no save, no cookie: the session is as it was
        assert [answer.cookie() for answer in answers] == [None, None]
        assert log_out(server, cookie).status == 303 and whoami(server, cookie) == "anonymous"


# Another site's page posts to /logout as soon as the visitor opens it, right after the login:
# (the copy's changes, the attacker's host and address, who the visitor is next).
LOGOUT_FORGERIES = {
    "recipe, from a sibling host": ([], (SIBLING_HOST, "127.0.0.1"), "alice"),
    # The same site: the post carries the SameSite=Lax cookie.
    "no token check, from a sibling host": ([LOGOUT_CHECK], (SIBLING_HOST, "127.0.0.1"), "anonymous"),
    "web.py's cookie, from another site": ([WEBPY_COOKIE], (OTHER_SITE, OTHER_SITE), "alice"),
    # A cookie without SameSite, given a new value by the login less than two minutes ago: Chromium sends it.
    "no token check, web.py's cookie, from another site": ([LOGOUT_CHECK, WEBPY_COOKIE], (OTHER_SITE, OTHER_SITE),
                                                           "anonymous"),
}


@pytest.mark.browser
@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("case", LOGOUT_FORGERIES)
def test_another_site_cannot_log_the_visitor_out(slug, case, tmp_path, context, recipe_server, other_site):
    changes, attacker, visitor_is = LOGOUT_FORGERIES[case]
    recipe = recipe_server(recipe_copy(slug, tmp_path, *changes))
    origin = f"http://{APP_HOST}:{recipe.port}"
    page = context.new_page()
    page.goto(f"{origin}/login")
    page.fill("input[name=username]", DEMO_ACCOUNT["username"])
    page.fill("input[name=password]", DEMO_ACCOUNT["password"])
    with page.expect_navigation(url=f"{origin}/whoami"):
        page.click("button")
    assert page.inner_text("body") == "alice"
    with page.expect_response(f"{origin}/logout") as forged:
        page.goto(other_site(*attacker).form_posting(f"{origin}/logout"))
    assert forged.value.status == (403 if visitor_is == "alice" else 303)
    page.goto(f"{origin}/whoami")
    assert page.inner_text("body") == visitor_is


LOGIN_CHECK = Change("the token check at login", "check_token(session, sent)", "pass")
NO_LOADHOOK = Change("the loadhook that sends no new cookie to a post without one",
                     "app.add_processor(no_new_cookie_for_a_post_without_one(session))")


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["token checked", "no token check"])
def test_a_login_without_the_forms_token_is_refused(slug, defence, tmp_path, recipe_server):
    server = recipe_server(copy(slug, tmp_path, defence, LOGIN_CHECK))
    cookie, _ = login_form(server)
    answers = [post(server, "/login", dict(DEMO_ACCOUNT, **form), cookie=cookie)
               for form in ({}, {"csrf_token": "forged"})]
    assert [answer.status for answer in answers] == ([403, 403] if defence else [303, 303])
    if defence:  # no save, no cookie: the session is as it was, anonymous
        assert [answer.cookie() for answer in answers] == [None, None]
        assert whoami(server, cookie) == "anonymous"


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["loadhook", "no loadhook"])
def test_a_post_without_the_cookie_gets_no_new_sessions_cookie(slug, defence, tmp_path, recipe_server):
    """Another site's post arrives without the Lax cookie: a new session's cookie in its answer, a 405
    or a 404, would replace the visitor's (test_cookies.py shows it in Chromium), logging them out."""
    server = recipe_server(copy(slug, tmp_path, defence, NO_LOADHOOK))
    answers = [post(server, path, DEMO_ACCOUNT) for path in ("/whoami", "/nowhere")]
    assert [answer.status for answer in answers] == [405, 404]
    assert [answer.cookie() is None for answer in answers] == [defence, defence]


# Another site's page posts the attacker's login to /login as soon as the visitor opens it:
# (the copy's changes, the attacker's host and address, who the visitor is next).
LOGIN_FORGERIES = {
    "recipe, from another site": ([], (OTHER_SITE, OTHER_SITE), "anonymous"),
    "recipe, from a sibling host": ([], (SIBLING_HOST, "127.0.0.1"), "anonymous"),
    # The same site: the post carries the SameSite=Lax cookie, and the login moves that session to alice.
    "no token check, from a sibling host": ([LOGIN_CHECK], (SIBLING_HOST, "127.0.0.1"), "alice"),
    # Without the cookie, the post logs in a new session, whose cookie replaces the visitor's.
    "no token check, no loadhook, from another site": ([LOGIN_CHECK, NO_LOADHOOK], (OTHER_SITE, OTHER_SITE), "alice"),
}


@pytest.mark.browser
@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("case", LOGIN_FORGERIES)
def test_another_site_cannot_log_the_visitor_into_its_account(slug, case, tmp_path, context, recipe_server,
                                                              other_site):
    """Login CSRF: the visitor, logged in as the attacker without knowing it, saves what they do there."""
    changes, attacker, visitor_is = LOGIN_FORGERIES[case]
    recipe = recipe_server(recipe_copy(slug, tmp_path, *changes))
    origin = f"http://{APP_HOST}:{recipe.port}"
    page = context.new_page()
    page.goto(f"{origin}/whoami")
    assert page.inner_text("body") == "anonymous"
    with page.expect_response(f"{origin}/login") as forged:
        page.goto(other_site(*attacker).form_posting(f"{origin}/login", **DEMO_ACCOUNT))
    assert forged.value.status == (403 if visitor_is == "anonymous" else 303)
    page.goto(f"{origin}/whoami")
    assert page.inner_text("body") == visitor_is


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["new token", "token kept"])
def test_a_token_seen_before_the_login_is_worthless_after_it(slug, defence, tmp_path, recipe_server):
    """As an id is (rotate_session_id): whoever planted the session knew its token."""
    server = recipe_server(copy(slug, tmp_path, defence, Change(
        "the new token at login", 'session.pop("csrf_token", None)', "None", file=LOGINS)))
    planted = get(server, "/whoami").cookie()
    token = logout_token(server, planted)
    cookie = log_in(server, planted)
    assert log_out(server, cookie, token).status == (403 if defence else 303)
    assert whoami(server, cookie) == ("alice" if defence else "anonymous")


@pytest.fixture
def imported(tmp_path, monkeypatch):
    """imported(slug, *changes) -> the recipe (a copy with `changes`) imported, its sessions in tmp_path."""
    monkeypatch.chdir(tmp_path)  # DiskStore("sessions") is relative to the working directory

    def imported(slug, *changes):
        return import_recipe(slug, recipe_copy(slug, tmp_path / "recipe", *changes) if changes else None)

    return imported


def attempt(recipe, password="a guess", username="alice", address="127.0.0.1"):
    """A login posted to the imported recipe's form from `address`."""
    return post_form_in_process(recipe.app, "/login", {"username": username, "password": password},
                                env={"REMOTE_ADDR": address})


def status(response):
    return int(response.status.split()[0])


NO_THROTTLE = [Change("the throttle", "throttle.attempt(username, web.ctx.ip)", "None"),
               Change("nothing: what the throttle takes back", "throttle.succeeded(attempt)", "None")]


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["throttle", "no throttle"])
def test_a_guesser_is_refused_before_hashing_until_the_window_has_passed(slug, defence, imported, monkeypatch):
    recipe = imported(slug, *([] if defence else NO_THROTTLE))
    clock = Clock(monkeypatch)  # the whole process's time.time(): the throttle reads it
    hashed, demo = [], (DEMO_ACCOUNT["username"], DEMO_ACCOUNT["password"])
    # Each check counted, and answered as the hash would answer it, without the hashing (scrypt is slow on purpose).
    monkeypatch.setattr(recipe, "credentials_match", lambda *given: hashed.append(given) or given == demo)
    guesses = [status(attempt(recipe, f"guess {number}")) for number in range(8)]
    right = attempt(recipe, DEMO_ACCOUNT["password"])
    if not defence:  # every guess hashed and answered, the right one found
        assert (guesses, status(right), len(hashed)) == ([401] * 8, 303, 9)
        return
    assert guesses == [401] * 5 + [429] * 3
    assert len(hashed) == 5  # a refused attempt costs no hashing
    assert status(right) == 429 and 0 < int(dict(right.header_items)["Retry-After"]) <= 15 * 60
    assert status(attempt(recipe, "a guess", username="bob")) == 401  # another name, the same address
    assert status(attempt(recipe, DEMO_ACCOUNT["password"], address="192.0.2.1")) == 429  # the name, anywhere
    clock.advance(15 * 60)  # the window has passed
    assert status(attempt(recipe, DEMO_ACCOUNT["password"])) == 303


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["throttle", "no throttle"])
def test_an_address_trying_many_names_is_refused(slug, defence, imported, monkeypatch):
    """At the recipe's limits: 20 failures from one address, each with another name, then a 429."""
    recipe = imported(slug, *([] if defence else NO_THROTTLE))
    monkeypatch.setattr(recipe, "credentials_match", lambda *given: False)  # names of no one: nothing to hash
    names = [status(attempt(recipe, username=f"user{number}", address="192.0.2.1")) for number in range(21)]
    assert names == ([401] * 20 + [429] if defence else [401] * 21)
    assert status(attempt(recipe, username="user99", address="192.0.2.2")) == 401  # another address


@pytest.mark.parametrize("defence", [True, False], ids=["throttle", "no throttle"])
def test_parallel_guessers_get_no_more_than_the_limit(defence, tmp_path, recipe_server):
    """Each attempt is counted before its password is hashed, under a lock: however the twelve
    overlap, five are hashed and answered 401, and the rest 429."""
    server = recipe_server(copy("login", tmp_path, defence, *NO_THROTTLE))
    cookie, token = login_form(server)
    form = {"username": "alice", "csrf_token": token}
    with ThreadPoolExecutor(max_workers=12) as pool:
        # Twelve scrypt hashes at once take long on a loaded machine: a wait, not a bound on time.
        statuses = sorted(pool.map(lambda number: post(server, "/login", dict(form, password=f"guess {number}"),
                                                       cookie=cookie, timeout=120).status, range(12)))
    assert statuses == ([401] * 5 + [429] * 7 if defence else [401] * 12)
