"""What the login page says beyond its transcripts; the expiry recipe has the same interface.

Each defence is removed in a copy of the recipe, and the attack it stops then succeeds.
"""
import hashlib
import http.client
import os
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import web

from harness import RECIPES, import_recipe, start_recipe

LOGIN_RECIPES = ["login", "expiry"]
ALICE = {"username": "alice", "password": "wonderland"}


def recipe_app(slug, tmp_path, defence=True, old="", new=""):
    """recipes/<slug>/app.py, or with `defence=False` a copy in tmp_path with `old` made `new`."""
    app = RECIPES / slug / "app.py"
    if defence:
        return app
    source = app.read_text()
    assert source.count(old) == 1, f"{old!r} is not in {slug}'s recipe exactly once"
    copy = tmp_path / "app.py"
    copy.write_text(source.replace(old, new))
    return copy


def running(slug, tmp_path, defence=True, old="", new="", env=None):
    return start_recipe(recipe_app(slug, tmp_path, defence, old, new), tmp_path, env)


def request(server, method, path, cookie=None, form=None, body=None, content_type=None):
    """One request, redirects not followed: (status, headers, body text)."""
    headers = {"Cookie": cookie} if cookie else {}
    if form is not None:
        body, content_type = urllib.parse.urlencode(form), "application/x-www-form-urlencoded"
    if content_type:
        headers["Content-Type"] = content_type
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def session_cookie(headers):
    """`webpy_session_id=<id>` from a response's Set-Cookie."""
    return headers["Set-Cookie"].split(";")[0]


def log_in(server, cookie=None, **fields):
    status, headers, _ = request(server, "POST", "/login", cookie, dict(ALICE, **fields))
    assert status == 303 and headers["Location"].endswith("/whoami"), status
    return session_cookie(headers)


def whoami(server, cookie):
    return request(server, "GET", "/whoami", cookie)[2]


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["rotation", "no rotation"])
def test_an_id_planted_before_login_is_worthless_after(slug, defence, tmp_path):
    server = running(slug, tmp_path, defence, old="        rotate_session_id()\n")
    try:
        planted = session_cookie(request(server, "GET", "/whoami")[1])  # the attacker's id
        victims = log_in(server, planted)
        attacker_sees = whoami(server, planted)
    finally:
        server.stop()
    assert (victims != planted) is defence
    assert attacker_sees == ("anonymous" if defence else "alice")


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["old entry deleted", "old entry kept"])
def test_login_moves_the_data_to_the_new_id_and_deletes_the_old_one(slug, defence, tmp_path):
    server = running(slug, tmp_path, defence, old="    del session.store[old_id]\n")
    store = web.session.DiskStore(str(tmp_path / "sessions"))
    try:
        old = session_cookie(request(server, "GET", "/whoami")[1])
        old_id = old.split("=")[1]
        store[old_id] = dict(store[old_id], cart=["tea"])  # what a visitor did before logging in
        new_id = log_in(server, old).split("=")[1]
        status, headers, body = request(server, "GET", "/whoami", old)
    finally:
        server.stop()
    assert store[new_id]["cart"] == ["tea"]
    # Without the deletion, whoever holds the old id still has the session as it was: anonymous.
    assert (old_id in store) is not defence
    assert (session_cookie(headers) == old) is not defence
    assert body == "anonymous"


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["hash for unknown names", "early return"])
def test_an_unknown_name_answers_as_a_wrong_password_and_as_slowly(slug, defence, tmp_path):
    early_return = "    if username not in USERS:\n        return False\n    salt, expected = USERS[username]\n"
    server = running(slug, tmp_path, defence, old="    salt, expected = USERS.get(username, NOBODY)\n",
                     new=early_return)
    seconds = {"alice": 0.0, "bob": 0.0}
    answers = set()
    try:
        for _ in range(3):
            for name in seconds:
                before = processor_seconds(server)
                status, _, body = request(server, "POST", "/login", form={"username": name, "password": "queen"})
                seconds[name] += processor_seconds(server) - before
                answers.add((status, body))
    finally:
        server.stop()
    assert len(answers) == 1 and answers.pop()[0] == 401
    # The server's processor time, not the clock: what the answer costs, whatever else the machine runs.
    ratio = seconds["bob"] / seconds["alice"]
    if defence:
        assert 0.5 < ratio < 2, seconds
    else:
        assert ratio < 0.2, seconds


def processor_seconds(server):
    """The processor time (user and system) the server's process has used so far."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["kill", "no kill"])
def test_logging_out_makes_a_copy_of_the_cookie_worthless(slug, defence, tmp_path):
    kill = "        session.kill()  # deleted from the store: a copy of the cookie opens nothing, now or later\n"
    server = running(slug, tmp_path, defence, old=kill)
    try:
        cookie = log_in(server)
        status, headers, _ = request(server, "POST", "/logout", cookie)
        copy_sees = whoami(server, cookie)
    finally:
        server.stop()
    assert status == 303 and headers["Location"].endswith("/login")
    assert copy_sees == ("anonymous" if defence else "alice")


def timed(call, *args):
    """call(*args), and the time.monotonic() when it returned."""
    result = call(*args)
    return result, time.monotonic()


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["FinalDiskStore", "web.py's DiskStore"])
def test_a_request_running_at_logout_does_not_bring_the_login_back(slug, defence, tmp_path):
    """web.py saves the session after each request, here after the logout that deleted it."""
    server = running(slug, tmp_path, defence, old='FinalDiskStore("sessions")', new='web.session.DiskStore("sessions")')
    wrong = {"username": "alice", "password": "queen"}  # holds the session while it hashes, about 0.2 s
    trials = []
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            for _ in range(4):
                cookie = log_in(server)
                slow = pool.submit(timed, request, server, "POST", "/login", cookie, wrong)
                time.sleep(0.05)  # the slow request has loaded the session
                (logout, _, _), logged_out_at = timed(request, server, "POST", "/logout", cookie)
                (status, _, _), slow_done_at = slow.result()
                trials.append({
                    "answers": (logout, status), "logged out first": logged_out_at < slow_done_at,
                    "copy sees": whoami(server, cookie),
                    "in the store": (tmp_path / "sessions" / cookie.split("=")[1]).exists()})
    finally:
        server.stop()
    assert all(trial["answers"] == (303, 401) and trial["logged out first"] for trial in trials), trials
    copy_sees = [trial["copy sees"] for trial in trials]
    if defence:
        assert copy_sees == ["anonymous"] * len(trials), trials
        assert not any(trial["in the store"] for trial in trials), trials
    else:  # the login is back, for as long as the cookie is used
        assert copy_sees.count("alice") >= len(trials) // 2, trials


NOT_UTF8 = (b"username=alice&password=\xff", "application/x-www-form-urlencoded")
A_FILE = ("--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n"
          "--x\r\nContent-Disposition: form-data; name=\"password\"; filename=\"p.txt\"\r\n\r\n"
          "wonderland\r\n--x--\r\n", "multipart/form-data; boundary=x")
FORM_CHECKS = {  # what no login form sends: (body, its type), the check that refuses it, undone
    "not UTF-8": (NOT_UTF8, "except UnicodeDecodeError:", "except ():"),
    "a file": (A_FILE, "if not all(isinstance(value, str) for value in values):", "if False:"),
}


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("case", FORM_CHECKS)
@pytest.mark.parametrize("defence", [True, False], ids=["checked", "unchecked"])
def test_what_no_login_form_sends_is_a_bad_request_not_an_error(slug, case, defence, tmp_path):
    (body, content_type), old, new = FORM_CHECKS[case]
    server = running(slug, tmp_path, defence, old, new)
    try:
        status = request(server, "POST", "/login", body=body, content_type=content_type)[0]
    finally:
        server.stop()
    assert status == (400 if defence else 500)
    assert ("Traceback" in server.log()) is not defence


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
@pytest.mark.parametrize("defence", [True, False], ids=["body only", "query string too"])
def test_a_password_in_the_url_is_not_read(slug, defence, tmp_path):
    """web.input() reads the query string as well as the body unless told _method="post"."""
    server = running(slug, tmp_path, defence, old='web.input(_method="post", ', new="web.input(")
    try:
        status = request(server, "POST", "/login?password=wonderland", form={"username": "alice"})[0]
    finally:
        server.stop()
    assert status == (401 if defence else 303)


@pytest.mark.parametrize("slug", LOGIN_RECIPES)
def test_the_password_is_kept_as_a_salted_scrypt_hash(slug, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # DiskStore("sessions") is relative to the working directory
    parameters = web.config.session_parameters  # the expiry recipe sets its timeout: put it back after
    monkeypatch.setitem(parameters, "timeout", parameters.timeout)
    recipe = import_recipe(slug)
    salt, stored = recipe.USERS["alice"]
    assert stored == hashlib.scrypt(b"wonderland", salt=salt, n=2**14, r=8, p=5)
    assert len(salt) == 16
    assert recipe.credentials_match("alice", "wonderland")
    assert not recipe.credentials_match("alice", "Wonderland")
    assert not recipe.credentials_match("bob", "wonderland")
