"""Every recipe answers a malformed session cookie with a fresh session, never an error."""
import http.client
import re
import subprocess

import pytest

from harness import COOKIE_NAMES, RECIPES, Services, entry_page, python_env, start_recipe

PICKLED = "gASVEAAAAAAAAAB9lIwFY291bnSUS2NzLg=="  # base64 of pickle.dumps({"count": 99})
BAD_VALUES = {
    "non-hex": b"not-a-session",
    "4 KB of hex": b"a" * 4096,
    "4 KB of text": b"z" * 4096,
    "quotes": b'"0123abcd"',
    "unterminated quote": b'"0123abcd',
    "unicode": "s\u00e9ssion-\u2603".encode(),
    "path": b"../../../../etc/passwd",
    "pickle": PICKLED.encode(),
    "json": b'{"count": 99}',
    "empty": b"",
    "semicolons": b";;;=;",
}


def dbstore_on_postgres(services):
    env = services.cookbook_database()
    subprocess.run(["psql", "-d", "cookbook", "-q", "-f", RECIPES / "dbstore" / "schema.sql"],
                   env=python_env(env), check=True)
    return env


def embedded_default(services):
    return {}


#: Every recipe on its embedded default, then the other stores recipes offer:
#: name -> (recipe, function of the `services` fixture returning the recipe's extra environment).
VARIANTS = {path.name: (path.name, embedded_default) for path in sorted(RECIPES.iterdir())}
VARIANTS["dbstore on postgres"] = ("dbstore", dbstore_on_postgres)
VARIANTS["stores with shelf"] = ("stores", lambda services: {"SESSION_STORE": "shelf"})
VARIANTS["stores with sqlite"] = ("stores", lambda services: {"SESSION_STORE": "sqlite"})
VARIANTS["stores with memory"] = ("stores", lambda services: {"SESSION_STORE": "memory"})
VARIANTS["postgres"] = ("postgres", Services.cookbook_database)
VARIANTS["resilience on postgres"] = ("resilience", Services.cookbook_database)
VARIANTS["resilience on postgres"] = ("resilience", Services.cookbook_database)
VARIANTS["redis"] = ("redis", lambda services: services.environment(["redis"]))
VARIANTS["scale-out"] = ("scale-out", lambda services: services.environment(["redis"]))
VARIANTS["scale-out on postgres"] = ("scale-out", Services.cookbook_database)
VARIANTS["locking on postgres"] = ("locking", lambda services: dict(services.cookbook_database(), SESSION_STORE="postgres"))
VARIANTS["locking on redis"] = ("locking", lambda services: dict(services.environment(["redis"]), SESSION_STORE="redis"))


@pytest.fixture(scope="module", params=VARIANTS)
def server(request, tmp_path_factory, services):
    slug, environment = VARIANTS[request.param]
    running = start_recipe(RECIPES / slug / "app.py", tmp_path_factory.mktemp(slug), environment(services))
    running.path = entry_page(slug)
    running.cookie = COOKIE_NAMES.get(slug, "webpy_session_id").encode()
    yield running
    running.stop()


@pytest.mark.parametrize("value", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_cookie_gets_a_fresh_session(server, value):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("GET", server.path)
    connection.putheader("Cookie", server.cookie + b"=" + value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()

    assert 200 <= response.status < 300, body
    if server.path == "/count":
        assert body == b"1"
    new_id = re.search(re.escape(server.cookie) + rb"=([0-9a-f]{40});", response.getheader("Set-Cookie", "").encode())
    assert new_id and new_id.group(1) != value
    assert "Traceback" not in server.log()
