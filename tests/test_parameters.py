"""The parameters page's table of defaults is web.py's own, in both languages."""
import ast
import re
import subprocess
import sys

import pytest

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
    import web

    class page:
        def GET(self):
            web.setcookie("name", "value", samesite=samesite)

    app = web.application(("/", "page"), {"page": page}, autoreload=False)
    assert dict(app.request("/").header_items)["Set-Cookie"] == f"name=value; Path=/{attribute}"
