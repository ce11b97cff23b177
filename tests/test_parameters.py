"""The parameters page's table of defaults is web.py's own, in both languages."""
import ast
import re
import subprocess
import sys

import pytest
import web

from harness import REPO

ROW = re.compile(r"^\| `(\w+)` \| `([^`]*)` \|", re.MULTILINE)


def installed_defaults():
    # A fresh interpreter: pages and tests in this one may have changed web.config.
    code = "import web; print(dict(web.config.session_parameters))"
    return ast.literal_eval(subprocess.check_output([sys.executable, "-c", code], text=True))


@pytest.mark.parametrize("page", ["parameters.md", "parameters.fr.md"])
def test_documented_defaults_are_the_installed_ones(page):
    table = ROW.findall((REPO / "docs" / "basics" / page).read_text())
    documented = {key: ast.literal_eval(default) for key, default in table}
    assert documented == installed_defaults()
    assert len(table) == len(documented), "a key is documented twice"


@pytest.mark.parametrize("samesite, attribute", [("lax", "; SameSite=lax"), ("Strictly", "")])
def test_web_py_drops_a_samesite_it_does_not_know(samesite, attribute):
    class page:
        def GET(self):
            web.setcookie("name", "value", samesite=samesite)

    app = web.application(("/", "page"), {"page": page}, autoreload=False)
    assert dict(app.request("/").header_items)["Set-Cookie"] == f"name=value; Path=/{attribute}"


def cookie_of(session_parameters, **request):
    """The Set-Cookie header of a session made with these parameters (put back after the test by conftest.py)."""
    class page:
        def GET(self):
            return "ok"

    app = web.application(("/", "page"), {"page": page}, autoreload=False)
    web.config.session_parameters.update(session_parameters)
    web.session.Session(app, web.session.MemoryStore())
    return dict(app.request("/", **request).header_items)["Set-Cookie"]


@pytest.mark.parametrize("script_name, path", [("", "/"), ("/shop", "/shop/")])
def test_the_default_cookie_path_is_the_home_path_and_a_slash(script_name, path):
    cookie = cookie_of({}, env={"SCRIPT_NAME": script_name})
    assert cookie.endswith(f"; HttpOnly; Path={path}")


def test_web_py_sends_samesite_none_without_secure():
    cookie = cookie_of({"samesite": "None"})
    assert cookie.endswith("; HttpOnly; Path=/; SameSite=None")
    assert "Secure" not in cookie


def test_an_address_in_x_forwarded_for_is_not_the_client_address():
    class page:
        def GET(self):
            return web.ctx.ip

    app = web.application(("/", "page"), {"page": page}, autoreload=False)
    response = app.request("/", env={"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"})
    assert response.data == b"10.0.0.1"
