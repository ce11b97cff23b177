"""What the testing page says about recipes/testing beyond its transcripts."""
import re
import subprocess
import sys

import pytest

from harness import RECIPES
from harness.client import method_for, request
from harness.copies import Change, recipe_copy, unchanged_copy
from harness.in_process import cookie_header, import_recipe
from harness.processes import python_env

TEST_FILE = RECIPES / "testing" / "test_app.py"
DEBUG_ON = Change("debug mode off", "web.config.debug = False\n")


def pytest_in(folder, *arguments, plugins=False):
    """Run pytest in folder as a reader does, with only pytest installed (plugins: with the
    cookbook's own, pytest-xdist and others, as a run inside the cookbook finds them); return
    (exit code, output)."""
    env = python_env() if plugins else python_env({"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *arguments], cwd=folder,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    return result.returncode, result.stdout


BREAKAGES = {
    "counts by two": Change("the count by one", "session.count += 1", "session.count += 2", file="counting.py"),
    "reset forgets nothing": Change("the reset", "session.kill()", "pass", file="counting.py"),
    "count not kept": Change("the count kept in the session",
                             "session.count += 1\n            return str(session.count)",
                             "return str(session.count + 1)", file="counting.py"),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_broken_app_fails_the_readers_tests(tmp_path, breakage):
    returncode, output = pytest_in(recipe_copy("testing", tmp_path / "mytests", breakage).parent, "-q")
    assert returncode == 1, output
    assert " failed" in output.splitlines()[-1]


def test_the_tests_do_not_see_debug_mode(tmp_path):
    """Imported by the tests, app.py is not the main script: debug mode does not break it there."""
    returncode, output = pytest_in(recipe_copy("testing", tmp_path / "mytests", DEBUG_ON).parent, "-q")
    assert returncode == 0, output


def test_in_debug_mode_the_server_fails_every_request_that_uses_the_session(tmp_path, recipe_server):
    """Run as the main script, the same app.py answers 500 where a handler uses the session, 404 elsewhere."""
    app = recipe_copy("testing", tmp_path / "mytests", DEBUG_ON)
    server = recipe_server(app, cwd=app.parent)
    statuses = {path: request(server, path, method_for(path)).status for path in ["/count", "/reset", "/", "/nope"]}
    assert statuses == {"/count": 500, "/reset": 500, "/": 404, "/nope": 404}


NEW_IMPORT_PER_TEST = Change("the new import of app.py for each test", '        sys.modules.pop("app", None)')


def test_without_a_new_import_per_test_the_later_tests_keep_no_session(tmp_path):
    folder = recipe_copy("testing", tmp_path / "mytests", NEW_IMPORT_PER_TEST, file="test_app.py").parent
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
    assert recipe.app.request("/count", headers=cookie_header(first)).data == b"1", "the session was not kept"
    assert list(elsewhere.iterdir()) == [] and list((tmp_path / "sessions").iterdir()) == []


REFUSED_THEN_ANY_ADDRESS = [
    "test_app.py::test_with_ignore_change_ip_false_another_address_is_refused",
    "test_app.py::test_the_cookie_alone_carries_the_session_from_any_address",
]
SET_BY_HAND = Change("monkeypatch.setitem: the parameter set by hand, never put back",
                    'monkeypatch.setitem(web.config.session_parameters, "ignore_change_ip", False)',
                    'web.config.session_parameters["ignore_change_ip"] = False')


def test_monkeypatch_keeps_a_session_parameter_in_its_test(tmp_path):
    returncode, output = pytest_in(unchanged_copy("testing", tmp_path / "mytests"), "-q", *REFUSED_THEN_ANY_ADDRESS)
    assert returncode == 0, output


def test_a_session_parameter_set_by_hand_leaks_into_the_next_test(tmp_path):
    folder = recipe_copy("testing", tmp_path / "mytests", SET_BY_HAND, file="test_app.py").parent
    returncode, output = pytest_in(folder, "-vv", "--tb=no", *REFUSED_THEN_ANY_ADDRESS)
    assert returncode == 1, output
    assert f"FAILED {REFUSED_THEN_ANY_ADDRESS[1]} - AssertionError: assert b'Session expired' == b'2'" in output


def test_without_its_pytest_ini_the_folder_gets_the_settings_around_it(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -k first_visit\n")
    folder = unchanged_copy("testing", tmp_path / "mytests")
    (folder / "pytest.ini").unlink()
    returncode, output = pytest_in(folder, "-q")
    assert output.splitlines()[-1].startswith("1 passed, 4 deselected in "), output


def test_the_folder_is_a_pytest_project_of_its_own():
    """Run where it stands, inside the cookbook, the cookbook's pytest.ini and conftest.py do not apply."""
    before = sorted(path.name for path in TEST_FILE.parent.iterdir())
    returncode, output = pytest_in(TEST_FILE.parent, plugins=True)
    assert returncode == 0, output
    assert f"rootdir: {TEST_FILE.parent}\nconfigfile: pytest.ini\n" in output
    assert "transcripts run" not in output and "workers" not in output
    assert sorted(path.name for path in TEST_FILE.parent.iterdir()) == before, "the run left files behind"
