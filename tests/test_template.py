"""What the template page says beyond its transcripts."""
from concurrent.futures import ThreadPoolExecutor

from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get, post
from harness.copies import Change, recipe_copy

APP = RECIPES_CATALOGUE["template"].app
RELATIVE_TEMPLATES = Change("the templates folder found next to the file: one relative to the working directory",
                            'TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")',
                            'TEMPLATES = "templates"')


def named(server, name):
    """A new visitor who gives their name: the cookie of their session."""
    cookie = get(server, "/").cookie()
    post(server, "/name", {"name": name}, cookie=cookie)
    return cookie


def test_each_request_reads_its_own_session(recipe_server):
    """One `session` global serves every template, yet each page greets its own visitor."""
    server = recipe_server(APP)
    cookies = {f"visitor{number}": named(server, f"visitor{number}") for number in range(8)}

    def greeting(name):
        return name, get(server, "/", cookie=cookies[name]).text

    with ThreadPoolExecutor(max_workers=10) as pool:
        pages = list(pool.map(greeting, list(cookies) * 10))
    assert len(pages) == 80
    for name, page in pages:
        assert f"<p>Hello, {name}!</p>" in page


def test_a_templates_folder_relative_to_the_working_directory_fails(tmp_path, recipe_server):
    """`render("templates")` looks in the directory the application started from."""
    statuses, logs = {}, {}
    for name, app in [("recipe", APP), ("relative", recipe_copy("template", tmp_path / "copy", RELATIVE_TEMPLATES))]:
        server = recipe_server(app)  # started from tmp_path, not from the recipe's folder
        statuses[name] = get(server, "/").status
        logs[name] = server.log()
    assert statuses == {"recipe": 200, "relative": 500}
    assert "AttributeError: No template named index" in logs["relative"]


def test_the_name_is_only_stripped_of_the_whitespace_around_it(recipe_server):
    """`.strip()`: the spaces inside are kept, the blanks around it are not, whatever they are."""
    server = recipe_server(APP)
    page = get(server, "/", cookie=named(server, " \t Ada  Lovelace \r\n")).text
    assert "<p>Hello, Ada  Lovelace!</p>" in page
    assert '<input name="name" value="Ada  Lovelace">' in page
