"""What the subapp page says about sub-applications and sessions beyond its transcripts."""
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import web

from harness import RECIPES, RecipeExited, python_env, start_recipe

LOAD_HOOK = "app.add_processor(web.loadhook(share_session))\n"
DEBUG_OFF = "web.config.debug = False\n\n"
IMPORT_BLOG = "import blog  # a module of this folder: python puts the script's folder on sys.path\n"
OWN_SESSION = ('blog_session = web.session.Session(app, web.session.DiskStore("sessions"), '
               'initializer={"count": 0})\n')


def copy_of_recipe(tmp_path, file, *replacements):
    """recipes/subapp copied to tmp_path/copy, with (old, new) replaced once each in `file`."""
    folder = tmp_path / "copy"
    shutil.copytree(RECIPES / "subapp", folder)
    source = (folder / file).read_text()
    for old, new in replacements:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    (folder / file).write_text(source)
    return folder


def get(port, path, cookie=None):
    """(status, body, Set-Cookie headers) of GET path."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie} if cookie else {})
    try:
        response = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    return response.status, response.read().decode(), response.headers.get_all("Set-Cookie") or []


@pytest.mark.parametrize("hook", [True, False], ids=["with the load hook", "without it"])
def test_the_blog_finds_the_session_through_the_load_hook(tmp_path, hook):
    folder = RECIPES / "subapp" if hook else copy_of_recipe(tmp_path, "app.py", (LOAD_HOOK, ""))
    server = start_recipe(folder / "app.py", tmp_path)
    try:
        status, body, _ = get(server.port, "/blog/count")
    finally:
        server.stop()
    error = "AttributeError: 'ThreadedDict' object has no attribute 'session'"
    if hook:
        assert (status, body) == (200, "1")
        assert error not in server.log()
    else:
        assert status == 500
        assert error in server.log()


def test_a_blog_that_imports_app_does_not_start(tmp_path):
    folder = copy_of_recipe(tmp_path, "blog.py", ("import web\n", "import web\nfrom app import session\n"))
    with pytest.raises(RecipeExited) as exited:
        start_recipe(folder / "app.py", tmp_path)
    assert ("AttributeError: partially initialized module 'blog' has no attribute 'app' "
            "(most likely due to a circular import)") in exited.value.output


@pytest.mark.parametrize("debug_off_first", [True, False], ids=["debug off, then import blog", "the other way"])
def test_the_blog_is_made_without_the_reloader_only_when_debug_is_off_first(tmp_path, debug_off_first):
    if debug_off_first:
        folder = RECIPES / "subapp"
    else:
        folder = copy_of_recipe(tmp_path, "app.py", (DEBUG_OFF + IMPORT_BLOG, IMPORT_BLOG + DEBUG_OFF))
    # A fresh interpreter as `python app.py` starts one; the working directory gets sessions/.
    code = "import app, blog; print(len(blog.app.processors), len(app.app.processors))"
    output = subprocess.check_output([sys.executable, "-c", code], cwd=tmp_path, text=True,
                                     env=python_env({"PYTHONPATH": str(folder)}))
    # web.py's own two processors; the reloader adds two more, the main app has the session's and the hook.
    blog_processors = 2 if debug_off_first else 4
    assert output.split() == [str(blog_processors), "4"]


def test_the_blogs_reloader_keeps_the_session_but_reloads_the_blog(tmp_path):
    """Imported before debug is off, the blog reloads itself, not the main module: the count goes on."""
    folder = copy_of_recipe(tmp_path, "app.py", (DEBUG_OFF + IMPORT_BLOG, IMPORT_BLOG + DEBUG_OFF))
    server = start_recipe(folder / "app.py", tmp_path)
    answers = []
    try:
        status, body, cookies = get(server.port, "/count")
        cookie = cookies[0].split(";")[0]
        answers.append(body)
        answers.append(get(server.port, "/blog/count", cookie)[1])
        later = time.time() + 10  # newer than anything the reloader has seen
        for file in ("app.py", "blog.py"):
            os.utime(folder / file, (later, later))
        answers.append(get(server.port, "/count", cookie)[1])
        answers.append(get(server.port, "/blog/count", cookie)[1])
        blog = folder / "blog.py"
        blog.write_text(blog.read_text().replace("return str(session.count)", 'return "blog " + str(session.count)'))
        os.utime(blog, (later + 10, later + 10))
        answers.append(get(server.port, "/blog/count", cookie)[1])
        answers.append(get(server.port, "/count", cookie)[1])
    finally:
        server.stop()
    assert answers == ["1", "2", "3", "4", "blog 5", "6"]
    assert "Traceback" not in server.log()


def with_a_blog_session_of_its_own(tmp_path):
    """The recipe, its blog making a Session of its own: the server."""
    folder = copy_of_recipe(tmp_path, "blog.py", ("web.ctx.session ", "blog_session  "))
    with open(folder / "blog.py", "a") as blog:
        blog.write(OWN_SESSION)
    return start_recipe(folder / "app.py", tmp_path)


def test_a_session_of_the_blog_own_is_overwritten_by_the_main_one(tmp_path):
    server = with_a_blog_session_of_its_own(tmp_path)
    try:
        _, first, cookies = get(server.port, "/count")
        cookie = cookies[0].split(";")[0]
        _, blog_count, cookies = get(server.port, "/blog/count", cookie)
    finally:
        server.stop()
    session_id = cookie.split("=")[1]
    assert (first, blog_count) == ("1", "2")
    assert [c.split(";")[0] for c in cookies] == [cookie, cookie], "the blog's cookie, then the main one"
    assert [c.split("; ")[-1] for c in cookies] == ["Path=/blog/", "Path=/"]
    saved = web.session.DiskStore(str(tmp_path / "sessions"))[session_id]
    assert saved["count"] == 1, "the main application saved its copy over the blog's 2"


@pytest.mark.parametrize("last", ["main", "blog"], ids=["the main id last, as curl sends them", "the blog's id last"])
def test_whichever_id_comes_last_both_sessions_load_it_and_the_blog_loses_its_change(tmp_path, last):
    server = with_a_blog_session_of_its_own(tmp_path)
    try:
        _, first, cookies = get(server.port, "/blog/count")
        blog_cookie, main_cookie = [c.split(";")[0] for c in cookies]  # on /blog/, then on /
        kept = main_cookie if last == "main" else blog_cookie
        header = "; ".join([blog_cookie, main_cookie] if last == "main" else [main_cookie, blog_cookie])
        visits = [get(server.port, "/blog/count", header) for _ in range(3)]
    finally:
        server.stop()
    assert first == "1" and blog_cookie != main_cookie, "a first visit makes two sessions"
    store = web.session.DiskStore(str(tmp_path / "sessions"))
    loaded_count = 0 if last == "main" else 1  # what the first visit saved under that id
    for _, blog_count, set_cookies in visits:
        assert blog_count == str(loaded_count + 1), "the blog's Session loaded the kept id"
        assert [c.split(";")[0] for c in set_cookies] == [kept, kept], "both Sessions hold the kept id"
    assert store[kept.split("=")[1]]["count"] == loaded_count, "the main application saved its copy over the blog's"
