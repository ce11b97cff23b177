"""What the testing page says about recipes/testing beyond its transcripts."""
import re
import shutil
import subprocess
import sys

import pytest

from harness import RECIPES, fetch, import_recipe, python_env, start_recipe

TEST_FILE = RECIPES / "testing" / "test_app.py"


def copy_of_the_recipe(tmp_path, edits=()):
    """recipes/testing copied to tmp_path/mytests, with (file, old, new) replacements."""
    folder = shutil.copytree(RECIPES / "testing", tmp_path / "mytests")
    for name, old, new in edits:
        source = (folder / name).read_text()
        assert old in source, f"{old!r} is no longer in {name}"
        (folder / name).write_text(source.replace(old, new))
    return folder


def pytest_in(folder, *arguments):
    """Run pytest in folder as a reader does; return (exit code, output)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *arguments], cwd=folder,
        env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    return result.returncode, result.stdout


BREAKAGES = {
    "counts by two": ("session.count += 1", "session.count += 2"),
    "reset forgets nothing": ("session.kill()", "pass"),
    "count not kept": ("session.count += 1\n        return str(session.count)", "return str(session.count + 1)"),
}


@pytest.mark.parametrize("old, new", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_broken_app_fails_the_readers_tests(tmp_path, old, new):
    folder = copy_of_the_recipe(tmp_path, [("app.py", old, new)])
    returncode, output = pytest_in(folder, "-q")
    assert returncode == 1, output
    assert " failed" in output.splitlines()[-1]


def test_the_tests_do_not_see_debug_mode(tmp_path):
    """Imported by the tests, app.py is not the main script: debug mode does not break it there."""
    folder = copy_of_the_recipe(tmp_path, [("app.py", "web.config.debug = False", "")])
    returncode, output = pytest_in(folder, "-q")
    assert returncode == 0, output


def test_in_debug_mode_the_server_fails_every_request_that_uses_the_session(tmp_path):
    """Run as the main script, the same app.py answers 500 where a handler uses the session, 404 elsewhere."""
    folder = copy_of_the_recipe(tmp_path, [("app.py", "web.config.debug = False", "")])
    server = start_recipe(folder / "app.py", folder)
    try:
        statuses = {path: fetch(server.port, path)[0] for path in ["/count", "/reset", "/", "/nope"]}
    finally:
        server.stop()
    assert statuses == {"/count": 500, "/reset": 500, "/": 404, "/nope": 404}


def test_without_a_new_import_per_test_the_later_tests_keep_no_session(tmp_path):
    folder = copy_of_the_recipe(tmp_path, [("test_app.py", '        sys.modules.pop("app", None)', "")])
    returncode, output = pytest_in(folder, "-vv", "--tb=no")  # -vv: whole failure messages
    failures = re.findall(r"^FAILED test_app.py::(\w+) - AssertionError: (.*)$", output, re.MULTILINE)
    assert failures == [
        ("test_the_cookie_carries_the_count_across_requests", "assert b'1' == b'2'"),
        ("test_reset_expires_the_cookie_and_forgets_the_count", "assert b'1' == b'2'"),
        ("test_the_cookie_alone_carries_the_session_from_any_address", "assert b'1' == b'2'"),
        ("test_with_ignore_change_ip_false_another_address_is_refused",
         "assert ('200 OK', b'1') == ('200 OK', b'Session expired')"),
    ], output


def test_changing_directory_after_the_import_loses_every_session(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = import_recipe("testing")  # its DiskStore makes ./sessions here
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    first = recipe.app.request("/count")
    cookie = {"Cookie": dict(first.header_items)["Set-Cookie"].split(";")[0]}
    assert recipe.app.request("/count", headers=cookie).data == b"1", "the session was not kept"
    assert list(elsewhere.iterdir()) == [] and list((tmp_path / "sessions").iterdir()) == []


REFUSED_THEN_ANY_ADDRESS = [
    "test_app.py::test_with_ignore_change_ip_false_another_address_is_refused",
    "test_app.py::test_the_cookie_alone_carries_the_session_from_any_address",
]
SETITEM = 'monkeypatch.setitem(web.config.session_parameters, "ignore_change_ip", False)'


def test_monkeypatch_keeps_a_session_parameter_in_its_test(tmp_path):
    returncode, output = pytest_in(copy_of_the_recipe(tmp_path), "-q", *REFUSED_THEN_ANY_ADDRESS)
    assert returncode == 0, output


def test_a_session_parameter_set_by_hand_leaks_into_the_next_test(tmp_path):
    folder = copy_of_the_recipe(
        tmp_path, [("test_app.py", SETITEM, 'web.config.session_parameters["ignore_change_ip"] = False')])
    returncode, output = pytest_in(folder, "-vv", "--tb=no", *REFUSED_THEN_ANY_ADDRESS)
    assert returncode == 1, output
    assert f"FAILED {REFUSED_THEN_ANY_ADDRESS[1]} - AssertionError: assert b'Session expired' == b'2'" in output


def test_without_its_pytest_ini_the_folder_gets_the_settings_around_it(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -k first_visit\n")
    folder = copy_of_the_recipe(tmp_path)
    (folder / "pytest.ini").unlink()
    returncode, output = pytest_in(folder, "-q")
    assert output.splitlines()[-1].startswith("1 passed, 4 deselected in "), output


def test_the_folder_is_a_pytest_project_of_its_own():
    """Run where it stands, inside the cookbook, the cookbook's pytest.ini and conftest.py do not apply."""
    before = sorted(path.name for path in TEST_FILE.parent.iterdir())
    returncode, output = pytest_in(TEST_FILE.parent)
    assert returncode == 0, output
    assert f"rootdir: {TEST_FILE.parent}\nconfigfile: pytest.ini\n" in output
    assert "transcripts run" not in output and "workers" not in output
    assert sorted(path.name for path in TEST_FILE.parent.iterdir()) == before, "the run left files behind"
