"""Recipes start in a reader's ordinary environment, such as a Linux desktop session's."""
import urllib.request

import pytest

from harness import COOKIE_NAMES, RECIPES, REPO, entry_page, front_matter, start_recipe

DESKTOP = {
    "SESSION_MANAGER": "local/desktop:@/tmp/.ICE-unix/1234,unix/desktop:/tmp/.ICE-unix/1234",
    "XDG_SESSION_TYPE": "wayland",
    "XDG_SESSION_ID": "2",
    "XDG_SESSION_CLASS": "user",
    "XDG_SESSION_DESKTOP": "gnome",
    "DESKTOP_SESSION": "gnome",
    "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
}


def pages_by_recipe():
    pages = (front_matter(page.read_text()) for page in (REPO / "docs").rglob("*.md"))
    return {page["recipe"]: page for page in pages if "recipe" in page}


@pytest.mark.parametrize("slug", sorted(path.name for path in RECIPES.iterdir()))
def test_recipe_starts_and_answers_in_a_desktop_session(slug, tmp_path, services):
    servers = services.environment(pages_by_recipe()[slug].get("services", []))
    server = start_recipe(RECIPES / slug / "app.py", tmp_path, {**DESKTOP, **servers})
    try:
        response = urllib.request.urlopen(f"http://127.0.0.1:{server.port}{entry_page(slug)}", timeout=10)
    finally:
        server.stop()
    assert response.status == 200
    assert COOKIE_NAMES.get(slug, "webpy_session_id") + "=" in response.headers["Set-Cookie"]
