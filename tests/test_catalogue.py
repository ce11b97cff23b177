"""The catalogue (tests/harness/catalogue.py) says what each recipe is: every recipe is in it, and
what it says holds. Each recipe also starts in a reader's ordinary environment, such as a Linux
desktop session's."""
import pytest

from harness import RECIPES
from harness.catalogue import RECIPES_CATALOGUE, undeclared_recipes
from harness.client import get

CATALOGUE = "tests/harness/catalogue.py"
DESKTOP = {
    "SESSION_MANAGER": "local/desktop:@/tmp/.ICE-unix/1234,unix/desktop:/tmp/.ICE-unix/1234",
    "XDG_SESSION_TYPE": "wayland",
    "XDG_SESSION_ID": "2",
    "XDG_SESSION_CLASS": "user",
    "XDG_SESSION_DESKTOP": "gnome",
    "DESKTOP_SESSION": "gnome",
    "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
}
DECLARE_DISK = (f"declare in {CATALOGUE} what it answers on a full and on a read-only disk "
                "(`disk=Disk(...)` in its Recipe line; tests/test_reliability_disk.py holds it to that)")


def test_every_recipe_folder_is_declared():
    assert undeclared_recipes() == [], f"declare each recipe in {CATALOGUE}: a Recipe line in RECIPES_CATALOGUE"


def uses_disk_store(slug):
    """Its own files name a DiskStore (a linked module may hold one that the recipe does not use)."""
    return any("DiskStore" in file.read_text() for file in (RECIPES / slug).glob("*.py") if not file.is_symlink())


def test_every_recipe_on_web_pys_disk_store_says_what_a_disk_fault_does():
    undeclared = [slug for slug, recipe in RECIPES_CATALOGUE.items() if uses_disk_store(slug) and not recipe.disk]
    assert undeclared == [], f"{undeclared} keep sessions in files (web.py's DiskStore): {DECLARE_DISK}"


@pytest.mark.parametrize("slug", RECIPES_CATALOGUE)
def test_recipe_starts_in_a_desktop_session_and_answers_its_entry_with_its_cookie(slug, tmp_path, services,
                                                                                  recipe_server):
    """The first visit the catalogue names answers 200 and sets the cookie it names; a recipe that
    writes files there (sessions kept in files, whatever its store) says what a disk fault does,
    and only such a recipe."""
    recipe = RECIPES_CATALOGUE[slug]
    server = recipe_server(recipe.app, {**DESKTOP, **services.environment(recipe.services)})
    answer = get(server, recipe.entry)
    files = sorted(path.name for path in tmp_path.iterdir() if path != server.log_path)
    assert answer.status == 200, (f"GET {recipe.entry}: {answer.status}; the first page to visit is the "
                                  f"`entry` of its Recipe line in {CATALOGUE}")
    assert answer.cookie(recipe.cookie), (f"no {recipe.cookie} cookie in {answer.headers.get_all('Set-Cookie')}; "
                                          f"the session cookie's name is the `cookie` of its Recipe line in {CATALOGUE}")
    assert files == [] or recipe.disk, f"{slug} writes {files} in its working directory: {DECLARE_DISK}"
    assert files or not recipe.disk, (f"{slug} writes no file in its working directory: its Recipe line in "
                                      f"{CATALOGUE} says what a disk fault does (`disk=`) to sessions it does not "
                                      "keep in files")
