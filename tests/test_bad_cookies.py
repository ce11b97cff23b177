"""Every recipe, on every store it offers, answers a malformed Cookie header with a fresh session.

The corpus (CORPUS) is data: malformed values of the recipe's own session cookie, then whole
Cookie headers in which the name varies too (the same name several times, other frameworks'
session cookies, odd separators, several Cookie lines). Each one is one request on a connection
of its own to a server per store variant (the VARIANTS of tests/harness/catalogue.py), which
must answer 2xx without a traceback, with a new session id of its own (never one the request
named), its count at 1 on /count, and run nothing the cookie carries. The requests tried and the
failures are printed at the end of the run (see conftest.py).
"""
import base64
import os
import pickle
import re

import pytest

from harness.catalogue import RECIPES_CATALOGUE, VARIANTS
from harness.client import request
from harness.copies import Change, recipe_copy
from harness.processes import start_recipe
from harness.report import reliability_figures

pytestmark = pytest.mark.reliability


class Planted:
    """Unpickled, it leaves a file named `pwned` in the server's directory."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


PICKLED = pickle.dumps({"count": 99})  # protocol 4: binary, no line break
PLANTED = pickle.dumps(Planted(), protocol=4)
UNKNOWN_ID = b"0123456789abcdef0123456789abcdef01234567"  # well formed, never given out: a fixation attempt

#: Malformed values of the recipe's session cookie, each sent as `<name>=<value>`.
BAD_VALUES = {
    "non-hex": b"not-a-session",
    "empty": b"",
    "a space": b" ",
    "4 KB of hex": b"a" * 4096,
    "16 KB of hex (too long for a file name)": b"b" * 16384,
    "4 KB of text": b"z" * 4096,
    "39 hex digits": UNKNOWN_ID[:39],
    "41 hex digits": UNKNOWN_ID + b"8",
    "4 hex digits": b"0123",
    "40 capital hex digits": UNKNOWN_ID.upper(),
    "an id never given out": UNKNOWN_ID,
    "an id never given out, percent-encoded": b"".join(b"%%%02x" % byte for byte in UNKNOWN_ID),
    "an id with 0x": b"0x" + UNKNOWN_ID[2:],
    "an id with a signature": UNKNOWN_ID + b".c2lnbmF0dXJl",
    "an id with a tab inside": UNKNOWN_ID[:20] + b"\t" + UNKNOWN_ID[20:],
    "quotes": b'"0123abcd"',
    "quoted id never given out": b'"' + UNKNOWN_ID + b'"',
    "unterminated quote": b'"0123abcd',
    "escaped quotes": b'"\\"\\\\\\""',
    "single quotes": b"'0123abcd'",
    "unicode": "s\u00e9ssion-\u2603".encode(),
    "emoji": "\U0001f36a".encode(),
    "right-to-left override, zero-width space": "\u202eabc\u200b".encode(),
    "Latin-1 bytes": b"\xe9t\xe9",
    "invalid UTF-8": b"\xff\xfe\xfd",
    "NUL": b"\x00",
    "control characters": b"\x01\x02\x03\x1b[31m\x08",
    "DEL": b"\x7f",
    "%00": b"%00",
    "%00 inside an id": UNKNOWN_ID[:20] + b"%00" + UNKNOWN_ID[20:],
    "broken percent-encoding": b"%zz%4",
    "path": b"../../../../etc/passwd",
    "path, percent-encoded": b"..%2F..%2F..%2Fetc%2Fpasswd",
    "absolute path": b"/etc/passwd",
    "Windows path": b"..\\..\\boot.ini",
    "dot dot": b"..",
    "pickle, base64": base64.b64encode(PICKLED),
    "pickle, raw bytes": PICKLED,
    "pickle that runs a command, base64": base64.b64encode(PLANTED),
    "pickle that runs a command, raw bytes": PLANTED,
    "JSON": b'{"count": 99}',
    "JSON naming a session id": b'{"session_id": "' + UNKNOWN_ID + b'", "count": 99}',
    "JSON array": b"[1, 2, 3]",
    "JSON null": b"null",
    "JSON, percent-encoded": b"%7B%22count%22%3A%2099%7D",
    "JWT with alg none": b"eyJhbGciOiJub25lIn0.eyJjb3VudCI6OTl9.",
    "base64 of an id": base64.b64encode(UNKNOWN_ID),
    "SQL": b"' OR '1'='1",
    "shell": b"$(touch pwned)`touch pwned`",
    "template": b"${7*7}{{7*7}}$def with",
    "semicolons": b";;;=;",
    "commas": b"a,b,c",
    "equals signs": b"==",
    "minus one": b"-1",
}

NAME = b"{name}"  # stands for the recipe's cookie name in the headers below
#: Whole Cookie headers, each a list of the header lines sent (usually one).
BAD_HEADERS = {
    "the same name twice": [NAME + b"=zzz; " + NAME + b"=../x"],
    "the same name: an id never given out, then garbage": [NAME + b"=" + UNKNOWN_ID + b"; " + NAME + b"=garbage"],
    "the same name: garbage, then an id never given out": [NAME + b"=garbage; " + NAME + b"=" + UNKNOWN_ID],
    "the same name three times: empty, quoted, NUL": [NAME + b'=; ' + NAME + b'="x"; ' + NAME + b"=\x00"],
    "the name alone": [NAME],
    "the name and =": [NAME + b"="],
    "spaces around the name and =": [b"  " + NAME + b"  =  zzz  "],
    "the name in capitals": [b"WEBPY_SESSION_ID=" + UNKNOWN_ID + b"; __HOST-SID=" + UNKNOWN_ID],
    "other frameworks' session cookies": [
        b"PHPSESSID=el4ukv0kqbvoirg7nkp4dncpk3; JSESSIONID=6A7B1C2D3E4F5A6B7C8D9E0F1A2B3C4D; "
        b"ASP.NET_SessionId=z3mhb2xkd4elqv45tqo3ayvh; connect.sid=s%3AabcDEF.sig%2Bnature; "
        b"sessionid=k2l4v1m8x9z0q7w6e5r4t3y2u1i0o9p8; laravel_session=eyJpdiI6IjEyMyJ9; "
        b"_session_id=" + UNKNOWN_ID[:32] + b"; session=eyJjb3VudCI6OTl9.ZmFrZQ.c2ln; rack.session=BAh7BkkiD3Nlc3Npb25faWQGOgZFVA"],
    "other frameworks' cookies and a bad one of ours": [
        b"PHPSESSID=el4ukv0kqbvoirg7nkp4dncpk3; " + NAME + b"=../x; JSESSIONID=6A7B1C2D3E4F5A6B7C8D9E0F1A2B3C4D"],
    "the other session names of this cookbook": [
        b"webpy_session_id=" + UNKNOWN_ID + b"; __Host-sid=" + UNKNOWN_ID + b"; __Secure-webpy_session_id=" + UNKNOWN_ID],
    "RFC 2965 attributes": [b'$Version=1; ' + NAME + b'="zzz"; $Path="/"; $Domain=".example"'],
    "commas between cookies": [NAME + b"=zzz, other=1, " + NAME + b"=yyy"],
    "a hundred other cookies first": [b"; ".join(b"c%d=%d" % (i, i) for i in range(100)) + b"; " + NAME + b"=zzz"],
    "separators only": [b"; ; ;"],
    "an empty header": [b""],
    "two Cookie lines": [NAME + b"=zzz", NAME + b"=" + UNKNOWN_ID],
    "an unbalanced quote before ours": [b'a="b; ' + NAME + b"=zzz"],
}

#: id -> the Cookie header lines of one request.
CORPUS = {name: [NAME + b"=" + value] for name, value in BAD_VALUES.items()} | BAD_HEADERS
assert len(CORPUS) >= 50
assert not any(re.search(rb"[\r\n]", line) for lines in CORPUS.values() for line in lines)


@pytest.fixture(scope="module", params=VARIANTS)
def server(request, tmp_path_factory, services):
    variant = VARIANTS[request.param]
    running = start_recipe(variant.recipe.app, tmp_path_factory.mktemp(variant.slug), variant.environment(services))
    yield under_test(running, variant.recipe)
    running.stop()


def under_test(server, recipe):
    """The server, with what the checks keep across requests: the ids it gave, how much of its log was read."""
    server.recipe, server.ids_given, server.log_read = recipe, set(), 0
    return server


def broken_promises(server, cookie_lines, answer):
    """What the answer to a malformed cookie did wrong (an empty list: a fresh session, nothing else)."""
    wrong = []
    if not 200 <= answer.status < 300:
        wrong.append(f"status {answer.status}")
    if b"Traceback" in answer.body:
        wrong.append("a traceback in the body")
    if server.recipe.counts and answer.body != b"1":
        wrong.append(f"count {answer.body[:80]!r}, not 1")
    new_id = answer.session_id(server.recipe.cookie)
    if not new_id:
        wrong.append(f"no new session cookie: {answer.headers.get_all('Set-Cookie')!r}")
    elif new_id.encode() in b"".join(cookie_lines).lower() + UNKNOWN_ID or new_id in server.ids_given:
        wrong.append(f"the id {new_id} is not a new one")
    else:
        server.ids_given.add(new_id)
    log = server.log()
    if "Traceback" in log[server.log_read:]:
        wrong.append("a traceback in the server's log")
    server.log_read = len(log)
    if (server.log_path.parent / "pwned").exists():
        wrong.append("the cookie ran a command")
    return wrong


def try_corpus_case(server, cookie):
    """Send one case of the corpus to the server: what it did wrong, and the body it answered."""
    lines = [line.replace(NAME, server.recipe.cookie.encode()) for line in cookie]
    answer = request(server, server.recipe.entry, cookie=lines)
    return broken_promises(server, lines, answer), answer.body


@pytest.mark.parametrize("cookie", CORPUS.values(), ids=CORPUS.keys())
def test_malformed_cookie_gets_a_fresh_session(server, cookie):
    wrong, body = try_corpus_case(server, cookie)
    reliability_figures["malformed cookies tried"] += 1
    reliability_figures["malformed cookies failed"] += bool(wrong)
    assert not wrong, (wrong, body[:500])


COUNT_SESSION = 'session = web.session.Session(\n    app, web.session.DiskStore("sessions"), initializer={"count": 0}\n)\n'
#: Copies of the count recipe that break the promise: name -> (the change, corpus cases that must fail).
BROKEN = {
    "ignore_expiry off": (
        Change("web.py's ignore_expiry: an unknown id is a 500 (SessionExpired), not a new session",
               COUNT_SESSION, "web.config.session_parameters.ignore_expiry = False\n" + COUNT_SESSION),
        {"an id never given out", "40 capital hex digits", "39 hex digits", "4 KB of hex"}),
    "adopts unknown ids": (
        Change("the refusal of unknown ids: any well-formed id it is sent becomes a session (fixation)",
               COUNT_SESSION, """
class AdoptingSession(web.session.Session):
    def _check_expiry(self):
        if self.session_id and self.session_id not in self.store:
            self.store[self.session_id] = {"count": 0, "ip": web.ctx.ip}


session = AdoptingSession(app, web.session.DiskStore("sessions"), initializer={"count": 0})
"""),
        {"an id never given out", "quoted id never given out", "an id never given out, percent-encoded"}),
    "reads the cookie as hex": (
        Change("the cookie left to web.py's Session: a handler trusts it, a 500 and a traceback",
               COUNT_SESSION, COUNT_SESSION + "app.add_processor(web.loadhook("
                              "lambda: bytes.fromhex(web.cookies().get('webpy_session_id', ''))))\n"),
        {"non-hex", "path", "NUL", "41 hex digits"}),
}


@pytest.mark.parametrize("broken", BROKEN)
def test_the_corpus_finds_a_broken_recipe(broken, tmp_path, recipe_server):
    """The same requests and checks, against a copy of the count recipe that breaks the promise: they fail."""
    change, must_fail = BROKEN[broken]
    server = under_test(recipe_server(recipe_copy("count", tmp_path / "copy", change)), RECIPES_CATALOGUE["count"])
    failed = {name for name, cookie in CORPUS.items() if try_corpus_case(server, cookie)[0]}
    print(f"\n{broken}: {len(failed)} of {len(CORPUS)} cases failed: {sorted(failed)}")
    assert must_fail <= failed, must_fail - failed
