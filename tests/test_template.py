"""What the template page says beyond its transcripts."""
import shutil
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from harness import RECIPES, start_recipe


def test_each_request_reads_its_own_session(tmp_path):
    """One `session` global serves every template, yet each page greets its own visitor."""
    server = start_recipe(RECIPES / "template" / "app.py", tmp_path)
    base = f"http://127.0.0.1:{server.port}"
    try:
        cookies = {}
        for number in range(8):
            first = urllib.request.urlopen(f"{base}/", timeout=10)
            cookie = first.headers["Set-Cookie"].split(";")[0]
            form = urllib.parse.urlencode({"name": f"visitor{number}"}).encode()
            urllib.request.urlopen(urllib.request.Request(f"{base}/name", form, {"Cookie": cookie}), timeout=10)
            cookies[f"visitor{number}"] = cookie

        def greeting(name):
            request = urllib.request.Request(f"{base}/", headers={"Cookie": cookies[name]})
            return name, urllib.request.urlopen(request, timeout=10).read().decode()

        with ThreadPoolExecutor(max_workers=10) as pool:
            pages = list(pool.map(greeting, list(cookies) * 10))
    finally:
        server.stop()
    assert len(pages) == 80
    for name, page in pages:
        assert f"<p>Hello, {name}!</p>" in page


def test_a_templates_folder_relative_to_the_working_directory_fails(tmp_path):
    """`render("templates")` looks in the directory the application started from."""
    copy = tmp_path / "copy"
    shutil.copytree(RECIPES / "template", copy)
    source = (copy / "app.py").read_text()
    line = next(line for line in source.splitlines() if line.startswith("TEMPLATES = "))
    (copy / "app.py").write_text(source.replace(line, 'TEMPLATES = "templates"'))
    statuses, logs = {}, {}
    for name, app in [("recipe", RECIPES / "template" / "app.py"), ("relative", copy / "app.py")]:
        server = start_recipe(app, tmp_path)  # started from tmp_path, not from the recipe's folder
        try:
            statuses[name] = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10).status
        except urllib.error.HTTPError as error:
            statuses[name] = error.code
        finally:
            server.stop()
        logs[name] = server.log()
    assert statuses == {"recipe": 200, "relative": 500}
    assert "AttributeError: No template named index" in logs["relative"]


def test_the_name_is_only_stripped_of_the_whitespace_around_it(tmp_path):
    """`.strip()`: the spaces inside are kept, the blanks around it are not, whatever they are."""
    server = start_recipe(RECIPES / "template" / "app.py", tmp_path)
    base = f"http://127.0.0.1:{server.port}"
    try:
        cookie = urllib.request.urlopen(f"{base}/", timeout=10).headers["Set-Cookie"].split(";")[0]
        form = urllib.parse.urlencode({"name": " \t Ada  Lovelace \r\n"}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{base}/name", form, {"Cookie": cookie}), timeout=10)
        page = urllib.request.urlopen(urllib.request.Request(f"{base}/", headers={"Cookie": cookie}),
                                      timeout=10).read().decode()
    finally:
        server.stop()
    assert "<p>Hello, Ada  Lovelace!</p>" in page
    assert '<input name="name" value="Ada  Lovelace">' in page
