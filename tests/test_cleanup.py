"""What the cleanup page says beyond its transcripts: the race it avoids, mtime rather than atime, its jobs."""
import configparser
import os
import shutil
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import web

from harness import RECIPES, REPO
from harness.catalogue import RECIPES_CATALOGUE
from harness.client import get, method_for
from harness.in_process import cookie_header, import_recipe
from harness.processes import RecipeExited, python_env, start_recipe

RECIPE = RECIPES / "cleanup"
PAGE_COMMAND = "python recipes/cleanup/app.py --cleanup"  # what the page runs
JOB_DIRECTORY = "/srv/cookbook"  # the placeholder in the cron line and the units
DAY = 86400


def make_idle(path, days=2):
    old = time.time() - days * DAY
    os.utime(path, (old, old))


def idle_sessions(root, number, days):
    """`number` session files in `root`, written by web.py's DiskStore, idle for `days`."""
    store = web.session.DiskStore(str(root))
    for n in range(number):
        store[f"{n:040x}"] = {"count": 1, "ip": "127.0.0.1"}
        make_idle(os.path.join(root, f"{n:040x}"), days)


def restart_and_request_at_once(slug, directory, recipe_server, requests=200, clients=10):
    """Start the recipe over 5,000 sessions idle for three days; send requests at once; (statuses, log)."""
    idle_sessions(directory / "sessions", 5000, days=3)
    server = recipe_server(RECIPES_CATALOGUE[slug].app, cwd=directory)
    with ThreadPoolExecutor(clients) as pool:
        statuses = Counter(pool.map(lambda _: get(server, "/count").status, range(requests)))
    print(slug, dict(statuses))
    return statuses, server.log()


def test_stock_disk_store_fails_requests_after_a_restart(tmp_path, recipe_server):
    statuses, log = restart_and_request_at_once("count", tmp_path, recipe_server)
    assert statuses[500] >= 5, f"web.py's in-request cleanup did not race: {dict(statuses)}"
    assert "FileNotFoundError" in log and "in cleanup" in log


def test_this_recipe_answers_every_request_and_leaves_the_files(tmp_path, recipe_server):
    statuses, log = restart_and_request_at_once("cleanup", tmp_path, recipe_server)
    assert statuses == Counter({200: 200}), log
    assert len(os.listdir(tmp_path / "sessions")) >= 5000


def test_web_py_runs_a_failed_cleanup_again_on_the_next_request(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stock = import_recipe("count")  # web.py's DiskStore as it is
    runs = []

    def lost_a_race(timeout):
        runs.append(timeout)
        raise FileNotFoundError("removed by another request's cleanup")

    monkeypatch.setattr(stock.session.store, "cleanup", lost_a_race)
    assert stock.app.request("/count").status.startswith("500")
    assert stock.app.request("/count").status.startswith("500")
    assert len(runs) == 2, "the failed cleanup noted no time, so the next request ran another"


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    """The recipe imported in an empty directory, as a new process would; its store is ./sessions."""
    monkeypatch.chdir(tmp_path)
    return import_recipe("cleanup")


def mount_options(path):
    found = subprocess.run(["findmnt", "-no", "OPTIONS", "-T", str(path)], capture_output=True, text=True)
    if found.returncode != 0:
        pytest.skip("findmnt cannot tell how this filesystem is mounted")
    return found.stdout.strip().split(",")


def test_a_backup_reading_old_sessions_keeps_them_for_web_py_not_for_this_recipe(recipe, tmp_path):
    for name in ["stock", "recipe"]:
        idle_sessions(tmp_path / name / "sessions", 3, days=2)
        shutil.copytree(tmp_path / name / "sessions", tmp_path / f"backup-{name}")  # reads every file

    web.session.DiskStore(str(tmp_path / "stock" / "sessions")).cleanup(DAY)
    removed, kept = recipe.DiskStoreCleanedOutside(str(tmp_path / "recipe" / "sessions")).remove_idle(DAY)

    assert (removed, kept) == (3, 0)
    left_by_web_py = len(os.listdir(tmp_path / "stock" / "sessions"))
    if "noatime" in mount_options(tmp_path):
        assert left_by_web_py == 0, "on noatime, reading does not move the access time"
    else:  # relatime (Linux's default) or strictatime: the read moved the access time
        assert left_by_web_py == 3


def test_a_request_that_does_not_save_its_session_is_not_activity(recipe):
    class peek:
        def GET(self):
            recipe.session.send_cookie = False  # web.py neither saves the session nor sends the cookie
            return str(recipe.session.count)

    recipe.app.add_mapping("/peek", peek)
    cookie = cookie_header(recipe.app.request("/count"))
    (session_file,) = os.scandir(recipe.store.root)
    make_idle(session_file.path)
    assert recipe.app.request("/peek", headers=cookie).data == b"1"  # used...
    assert recipe.store.remove_idle(DAY) == (1, 0)  # ...and removed all the same
    assert recipe.app.request("/count", headers=cookie).data == b"1"


def test_files_removed_meanwhile_are_skipped(recipe, monkeypatch):
    idle_sessions(recipe.store.root, 3, days=2)
    listed = list(os.scandir(recipe.store.root))
    os.remove(listed[0].path)  # by /reset, or by a second --cleanup, after the listing
    monkeypatch.setattr(recipe.os, "scandir", lambda root: iter(listed))
    assert recipe.store.remove_idle(DAY) == (2, 0)


def test_a_session_saved_between_stat_and_removal_is_lost(recipe, monkeypatch):
    idle_sessions(recipe.store.root, 1, days=2)
    (session_id,) = os.listdir(recipe.store.root)
    remove = os.remove

    def save_first(path):
        recipe.store[session_id] = {"count": 2}  # a request of this session ends just now
        remove(path)

    monkeypatch.setattr(recipe.os, "remove", save_first)
    assert recipe.store.remove_idle(DAY) == (1, 0)
    assert session_id not in recipe.store


def removed_by_cleanup_during_the_request(recipe, monkeypatch, page, path_check):
    """A returning visitor's request, its session file made idle and removed by --cleanup when `path_check`
    (which of DiskStore's `os.path.exists` calls on the file) has just found it there; (response, old cookie)."""
    cookie = cookie_header(recipe.app.request("/count"))
    (session_file,) = os.scandir(recipe.store.root)
    exists, checks = os.path.exists, []

    def exists_then_cleanup(path):
        found = exists(path)
        if path == session_file.path:
            checks.append(path)
            if len(checks) == path_check:
                make_idle(path)
                assert recipe.store.remove_idle(DAY) == (1, 0)
        return found

    monkeypatch.setattr(web.session.os.path, "exists", exists_then_cleanup)
    response = recipe.app.request(page, method_for(page), headers=cookie)
    monkeypatch.undo()
    return response, cookie["Cookie"]


REMOVED_DURING = {  # (page, which os.path.exists of the file --cleanup follows) -> the page's answer
    "between in and the read": ("/count", 1, b"1"),  # web.py's `session_id in store`, then store[session_id]
    "between exists and open": ("/count", 2, b"1"),  # inside DiskStore.__getitem__
    "between exists and remove": ("/reset", 3, b"Reset"),  # inside DiskStore.__delitem__, for session.kill()
}


@pytest.mark.parametrize("page, path_check, answer", REMOVED_DURING.values(), ids=REMOVED_DURING)
def test_a_session_removed_during_its_request_is_not_an_error(recipe, monkeypatch, page, path_check, answer):
    """--cleanup may remove a session file after any of DiskStore's checks: the visitor of /count gets a fresh
    session (a new cookie, a count of 1), the one of /reset a reset."""
    response, old_cookie = removed_by_cleanup_during_the_request(recipe, monkeypatch, page, path_check)
    assert (response.status, response.data) == ("200 OK", answer)
    if page == "/count":
        assert dict(response.header_items)["Set-Cookie"].split(";")[0] != old_cookie


@pytest.mark.parametrize("page, path_check, answer", REMOVED_DURING.values(), ids=REMOVED_DURING)
def test_web_py_s_session_and_disk_store_answer_500_there(recipe, monkeypatch, page, path_check, answer):
    """The same with web.py's Session and DiskStore, as the recipe would be without its defences."""
    monkeypatch.setattr(recipe, "session", web.session.Session(None, web.session.DiskStore(recipe.store.root),
                                                                initializer={"count": 0}))
    recipe.app.processors = [recipe.session._processor]
    response, _ = removed_by_cleanup_during_the_request(recipe, monkeypatch, page, path_check)
    assert response.status == "500 Internal Server Error"


@pytest.mark.parametrize("value", ["-5", "", " 5", "1.5", "\u00b2", "ten"])
def test_a_bad_timeout_stops_the_server_and_the_job_with_a_message(tmp_path, value):
    message = f"SESSION_TIMEOUT={value!r}: expected a whole number of seconds, at least 1"
    with pytest.raises(RecipeExited) as exited:
        start_recipe(RECIPE / "app.py", tmp_path, {"SESSION_TIMEOUT": value})
    assert exited.value.output.strip() == message
    job = subprocess.run(["python", RECIPE / "app.py", "--cleanup"], cwd=tmp_path, capture_output=True, text=True,
                         env=python_env({"SESSION_TIMEOUT": value}))
    assert (job.returncode, job.stdout, job.stderr.strip()) == (1, "", message)


# The cron line and the systemd units: the page's command, run as cron and systemd run it.

def job_directory(tmp_path):
    """A stand-in for /srv/cookbook: the recipes, a .venv with web.py, two idle sessions and one fresh."""
    directory = tmp_path / "srv"
    directory.mkdir()
    (directory / "recipes").symlink_to(RECIPES)
    (directory / ".venv").symlink_to(REPO / ".venv")
    idle_sessions(directory / "sessions", 2, days=2)
    web.session.DiskStore(str(directory / "sessions"))["ff" * 20] = {"count": 1}
    return directory


def units():
    """The two systemd units, read as INI files (no duplicate keys, no section outside the known ones)."""
    parsed = {}
    for name in ["session-cleanup.service", "session-cleanup.timer"]:
        unit = configparser.ConfigParser(interpolation=None, strict=True)
        unit.optionxform = str  # systemd keys are case-sensitive
        unit.read_string((RECIPE / name).read_text())
        parsed[name] = unit
    return parsed


def test_the_pages_run_the_command_that_the_jobs_run():
    for page in ["cleanup.md", "cleanup.fr.md"]:
        assert f"\n$ {PAGE_COMMAND}\n" in (REPO / "docs" / "production" / page).read_text()
    assert f"cd {JOB_DIRECTORY} && SESSION_TIMEOUT=86400 .venv/bin/{PAGE_COMMAND} |" in cron_line()
    service = units()["session-cleanup.service"]["Service"]
    assert service["ExecStart"] == f"{JOB_DIRECTORY}/.venv/bin/{PAGE_COMMAND}"
    assert service["WorkingDirectory"] == JOB_DIRECTORY


def cron_line():
    (line,) = [line for line in (RECIPE / "crontab").read_text().splitlines() if line and not line.startswith("#")]
    return line


def test_the_cron_line_removes_idle_sessions_with_crons_path(tmp_path):
    minute, hour, day, month, weekday, command = cron_line().split(None, 5)
    assert (minute, hour, day, month, weekday) == ("17", "*", "*", "*", "*"), "every hour"
    directory = job_directory(tmp_path)
    bin_dir = tmp_path / "bin"  # a `logger` that writes to a file instead of the system log
    bin_dir.mkdir()
    (bin_dir / "logger").write_text(f'#!/bin/sh\ncat > "{tmp_path}/logged"\n')
    (bin_dir / "logger").chmod(0o755)
    command = command.replace(JOB_DIRECTORY, str(directory))
    subprocess.run(["/bin/sh", "-c", command], env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
                   cwd=tmp_path, check=True, timeout=30)
    assert (tmp_path / "logged").read_text() == "idle sessions: 2 removed, 1 kept\n"
    assert os.listdir(directory / "sessions") == ["ff" * 20]


def test_the_systemd_service_removes_idle_sessions(tmp_path):
    service, timer = units().values()
    assert service["Service"]["Type"] == "oneshot"
    assert timer["Timer"]["OnCalendar"] == "hourly"
    assert timer["Install"]["WantedBy"] == "timers.target"
    directory = job_directory(tmp_path)
    name, value = service["Service"]["Environment"].split("=", 1)
    command = service["Service"]["ExecStart"].replace(JOB_DIRECTORY, str(directory)).split()
    job = subprocess.run(command, cwd=service["Service"]["WorkingDirectory"].replace(JOB_DIRECTORY, str(directory)),
                         env={name: value, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert (job.returncode, job.stdout) == (0, "idle sessions: 2 removed, 1 kept\n"), job.stderr
    assert os.listdir(directory / "sessions") == ["ff" * 20]


def test_systemd_analyze_verifies_the_units(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (it comes with systemd)")
    directory = job_directory(tmp_path)  # verify checks that ExecStart's program exists
    for name in ["session-cleanup.service", "session-cleanup.timer"]:
        (tmp_path / name).write_text((RECIPE / name).read_text().replace(JOB_DIRECTORY, str(directory)))
    verified = subprocess.run(["systemd-analyze", "verify", "session-cleanup.service", "session-cleanup.timer"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
