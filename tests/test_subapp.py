"""What the subapp page says about sub-applications and sessions beyond its transcripts."""
import os
import subprocess
import sys
import time

import pytest
import web

from harness.client import get
from harness.copies import Change, changed, recipe_copy
from harness.processes import RecipeExited, python_env, start_recipe

NO_LOAD_HOOK = Change("the loadhook that hands the session to the blog", "app.add_processor(web.loadhook(share_session))\n")
BLOG_IMPORTS_APP = Change("nothing: the blog imports the main module's session", "import web\n",
                          "import web\nfrom app import session\n")
DEBUG_OFF_AFTER_THE_BLOG = [  # the blog imported (and made) before debug is turned off
    Change("debug off before the blog is made", "web.config.debug = False\n"),
    Change("debug off before the blog is made", "\nurls = (\n", "\nweb.config.debug = False\n\nurls = (\n"),
]
BLOG_SESSION_OF_ITS_OWN = [  # the blog makes a Session of its own instead of using the main one
    Change("the main application's session, used by the blog", "session = web.ctx.session", "session = blog_session"),
    Change("the main application's session, used by the blog", "app = web.application(urls, locals())\n",
           "app = web.application(urls, locals())\n"
           'blog_session = web.session.Session(app, web.session.DiskStore("sessions"), initializer={"count": 0})\n'),
]
BLOG_EDITED = Change("nothing: the blog's page edited while the server runs", "return str(session.count)",
                     'return "blog " + str(session.count)')


def visit(server, path, cookie=None):
    """(status, body, Set-Cookie headers) of GET path."""
    answer = get(server, path, cookie=cookie)
    return answer.status, answer.text, answer.headers.get_all("Set-Cookie") or []


@pytest.mark.parametrize("hook", [True, False], ids=["with the load hook", "without it"])
def test_the_blog_finds_the_session_through_the_load_hook(tmp_path, recipe_server, hook):
    changes = [] if hook else [NO_LOAD_HOOK]
    server = recipe_server(recipe_copy("subapp", tmp_path / "copy", *changes))
    status, body, _ = visit(server, "/blog/count")
    error = "AttributeError: 'ThreadedDict' object has no attribute 'session'"
    if hook:
        assert (status, body) == (200, "1")
        assert error not in server.log()
    else:
        assert status == 500
        assert error in server.log()


def test_a_blog_that_imports_app_does_not_start(tmp_path):
    app = recipe_copy("subapp", tmp_path / "copy", BLOG_IMPORTS_APP, file="blog.py").with_name("app.py")
    with pytest.raises(RecipeExited) as exited:
        start_recipe(app, tmp_path)
    assert ("AttributeError: partially initialized module 'blog' has no attribute 'app' "
            "(most likely due to a circular import)") in exited.value.output


@pytest.mark.parametrize("debug_off_first", [True, False], ids=["debug off, then import blog", "the other way"])
def test_the_blog_is_made_without_the_reloader_only_when_debug_is_off_first(tmp_path, debug_off_first):
    changes = [] if debug_off_first else DEBUG_OFF_AFTER_THE_BLOG
    folder = recipe_copy("subapp", tmp_path / "copy", *changes).parent
    # A fresh interpreter as `python app.py` starts one; the working directory gets sessions/.
    code = "import app, blog; print(len(blog.app.processors), len(app.app.processors))"
    output = subprocess.check_output([sys.executable, "-c", code], cwd=tmp_path, text=True,
                                     env=python_env({"PYTHONPATH": str(folder)}))
    # web.py's own two processors; the reloader adds two more, the main app has cache_control's, the
    # session's and the hook.
    blog_processors = 2 if debug_off_first else 4
    assert output.split() == [str(blog_processors), "5"]


def test_the_blogs_reloader_keeps_the_session_but_reloads_the_blog(tmp_path, recipe_server):
    """Imported before debug is off, the blog reloads itself, not the main module: the count goes on."""
    app = recipe_copy("subapp", tmp_path / "copy", *DEBUG_OFF_AFTER_THE_BLOG)
    server = recipe_server(app)
    first = get(server, "/count")
    cookie = first.cookie()
    answers = [first.text, get(server, "/blog/count", cookie=cookie).text]
    later = time.time() + 10  # newer than anything the reloader has seen
    for file in ("app.py", "blog.py"):
        os.utime(app.with_name(file), (later, later))
    answers += [get(server, path, cookie=cookie).text for path in ("/count", "/blog/count")]
    blog = app.with_name("blog.py")
    blog.write_text(changed(blog.read_text(), [BLOG_EDITED], "the copy's blog.py"))
    os.utime(blog, (later + 10, later + 10))
    answers += [get(server, path, cookie=cookie).text for path in ("/blog/count", "/count")]
    assert answers == ["1", "2", "3", "4", "blog 5", "6"]
    assert "Traceback" not in server.log()


def with_a_blog_session_of_its_own(tmp_path, recipe_server):
    """The recipe, its blog making a Session of its own: the server."""
    app = recipe_copy("subapp", tmp_path / "copy", *BLOG_SESSION_OF_ITS_OWN, file="blog.py").with_name("app.py")
    return recipe_server(app)


def test_a_session_of_the_blog_own_is_overwritten_by_the_main_one(tmp_path, recipe_server):
    server = with_a_blog_session_of_its_own(tmp_path, recipe_server)
    _, first, cookies = visit(server, "/count")
    cookie = cookies[0].split(";")[0]
    _, blog_count, cookies = visit(server, "/blog/count", cookie)
    session_id = cookie.split("=")[1]
    assert (first, blog_count) == ("1", "2")
    assert [c.split(";")[0] for c in cookies] == [cookie, cookie], "the blog's cookie, then the main one"
    assert [c.split("; ")[-1] for c in cookies] == ["Path=/blog/", "Path=/"]
    saved = web.session.DiskStore(str(tmp_path / "sessions"))[session_id]
    assert saved["count"] == 1, "the main application saved its copy over the blog's 2"


@pytest.mark.parametrize("last", ["main", "blog"], ids=["the main id last, as curl sends them", "the blog's id last"])
def test_whichever_id_comes_last_both_sessions_load_it_and_the_blog_loses_its_change(tmp_path, recipe_server, last):
    server = with_a_blog_session_of_its_own(tmp_path, recipe_server)
    _, first, cookies = visit(server, "/blog/count")
    blog_cookie, main_cookie = [c.split(";")[0] for c in cookies]  # on /blog/, then on /
    kept = main_cookie if last == "main" else blog_cookie
    header = "; ".join([blog_cookie, main_cookie] if last == "main" else [main_cookie, blog_cookie])
    visits = [visit(server, "/blog/count", header) for _ in range(3)]
    assert first == "1" and blog_cookie != main_cookie, "a first visit makes two sessions"
    store = web.session.DiskStore(str(tmp_path / "sessions"))
    loaded_count = 0 if last == "main" else 1  # what the first visit saved under that id
    for _, blog_count, set_cookies in visits:
        assert blog_count == str(loaded_count + 1), "the blog's Session loaded the kept id"
        assert [c.split(";")[0] for c in set_cookies] == [kept, kept], "both Sessions hold the kept id"
    assert store[kept.split("=")[1]]["count"] == loaded_count, "the main application saved its copy over the blog's"
