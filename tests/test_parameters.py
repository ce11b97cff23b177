"""The parameters page's table of defaults is web.py's own, in both languages."""
import ast
import re
import subprocess
import sys

import pytest
import web

from harness import REPO
from harness.in_process import cookie_header, import_recipe

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


def test_behind_proxies_the_address_check_sees_only_the_proxy_s(tmp_path, monkeypatch):
    """ignore_change_ip=False compares REMOTE_ADDR, the proxy's: through one proxy every client is let
    in; through two (a load balancer's addresses), a visitor who comes through the other one is refused."""
    monkeypatch.chdir(tmp_path)  # sessions/ is created in the working directory
    monkeypatch.setenv("WEBPY_SESSION_IGNORE_CHANGE_IP", "False")
    recipe = import_recipe("parameters")

    def count(proxy, client, headers=None):
        env = {"REMOTE_ADDR": proxy, "HTTP_X_FORWARDED_FOR": client}
        return recipe.app.request("/count", headers=headers or {}, env=env)

    alice = cookie_header(count("10.0.0.1", "198.51.100.7"))
    assert count("10.0.0.1", "203.0.113.9", alice).data == b"2"  # another client, through the same proxy
    assert count("10.0.0.2", "198.51.100.7", alice).data == b"Session expired"  # Alice, through the other
