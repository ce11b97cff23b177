"""Faults (issue #9): a full or read-only disk under every recipe that keeps sessions in files.

The recipes are those whose catalogue entry (tests/harness/catalogue.py) says what they answer
on such a disk (`disk=`); tests/test_catalogue.py makes sure every recipe that keeps sessions in
files says it. Full: RLIMIT_FSIZE at 0 on the server process (its output piped, so that only its
own files are refused): every write fails with EFBIG, as with ENOSPC, for root too, and the limit
goes with the process. Read-only: the server runs in a mount namespace of its own, its directory
bind-mounted on itself and remounted read-only from outside (EROFS, for root too); the mount goes
with the process. No answer may be a 500 or hold a traceback, and once the disk is back the
session reads back whole. The resilience, hardening, json-store and dbstore (SQLite) recipes
answer 503 and keep nothing (locking too, for a session whose lock file a read-only disk refuses):
tested. (SQLite keeps its database open to write, and the kernel refuses a read-only remount
while it does: dbstore is tested on a full disk only.) web.py's DiskStore swallows OSError when
it saves (`except OSError: pass`): the recipes that keep it answer 200 and lose the write. A 503
is out of their reach without a store of their own, so the test holds them to what web.py does
(200, the write lost, the session whole afterwards: a newer web.py that raised instead would
show here as a 500) and counts those silent losses in the figures printed at the end of the run.
Those sessions are small: a session larger than Python's write buffer is destroyed instead by a
full disk under web.py's DiskStore (the last three tests: the buffer is the file system's block
size), and kept by the hardening recipe's store.
"""
import io
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

from harness.catalogue import LOST, RECIPES_CATALOGUE, UNAVAILABLE
from harness.client import get, post
from harness.copies import Change, recipe_copy
from harness.processes import BackgroundServer, free_port, python_env
from harness.report import reliability_figures
from harness.services import missing

if sys.platform == "linux":
    import resource  # its prlimit (Linux only) sets another process's limits

pytestmark = pytest.mark.reliability

THE_503 = (UNAVAILABLE, b"The session store is unavailable, try again later.\n")
FAULTS = {"full": "full", "read-only": "read_only"}  # a fault -> its field of the catalogue's Disk
#: (slug, fault): every recipe that keeps sessions in files, on each fault that can be made under it.
DISK_FAULTS = [(slug, fault) for slug, recipe in RECIPES_CATALOGUE.items() if recipe.disk
               for fault, field in FAULTS.items() if getattr(recipe.disk, field) is not None]


@pytest.fixture
def piped_server(tmp_path):
    """piped_server(app, own_mount=False): the recipe with its output through a pipe (a file size
    limit would refuse its log lines too); own_mount: in a mount namespace of its own, its directory
    bind-mounted on itself. Stopped after the test."""
    servers = []

    def start(app, own_mount=False):
        if sys.platform != "linux":
            missing("Linux's prlimit and mount namespaces (the faults are made with them)",
                    "run tests/test_reliability_disk.py on Linux, as CI does")
        port = free_port()
        command = f"python {app} 127.0.0.1:{port}"
        if own_mount:
            if os.geteuid() != 0:
                missing("A read-only bind mount", "run as root (CI does), for unshare --mount")
            command = (f"""unshare --mount --propagation private sh -c 'mount --bind "$PWD" "$PWD" && """
                       f"""cd "$PWD" && exec {command}'""")
        servers.append(BackgroundServer(f"exec {command} > >(exec cat) 2>&1", tmp_path, python_env(), port))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@contextmanager
def disk(server, fault):
    """The server's disk full (no byte may be written to a file) or read-only for the block."""
    pid = server.process.pid  # bash exec'd unshare, sh and python: one process
    if fault == "full":
        limits = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, limits[1]))
    else:
        remount = ["nsenter", "--target", str(pid), "--mount", "mount", "-o"]
        subprocess.run(remount + ["remount,bind,ro", str(server.log_path.parent)], check=True)
    try:
        yield
    finally:
        if fault == "full":
            resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)
        else:
            subprocess.run(remount + ["remount,bind,rw", str(server.log_path.parent)], check=True)


@pytest.mark.parametrize("slug, fault", DISK_FAULTS)
def test_full_or_read_only_disk_never_a_500(slug, fault, piped_server):
    recipe = RECIPES_CATALOGUE[slug]
    server = piped_server(recipe.app, own_mount=fault == "read-only")

    def visit(cookie=None):
        answer = get(server, recipe.entry, cookie=cookie)
        return answer.status, answer.body, answer.cookie(recipe.cookie)

    first = visit()
    before = visit(first[2])
    with disk(server, fault):
        during = visit(first[2])
        newcomer = visit()
    after = visit(first[2])
    answers = [first, before, during, newcomer, after]
    expected, for_newcomer = getattr(recipe.disk, FAULTS[fault])
    reliability_figures["full or read-only disk: requests"] += len(answers)
    reliability_figures["full or read-only disk: 500s"] += sum(status >= 500 and status != 503 for status, _, _ in answers)
    reliability_figures["full or read-only disk: writes lost silently (web.py's DiskStore)"] += (
        expected == LOST and during[0] == 200)
    print(f"\n{slug}, {fault} disk: {[(status, body[:20]) for status, body, _ in answers]}")
    assert [status for status, _, _ in [first, before, after]] == [200, 200, 200]
    assert all(b"Traceback" not in body for _, body, _ in answers)
    assert after[2] == first[2], "the session id changed: its record did not survive"
    assert during[:2] == THE_503 if expected == UNAVAILABLE else during[0] == 200
    assert newcomer[:2] == THE_503 if for_newcomer == UNAVAILABLE else newcomer[0] == 200
    if recipe.counts:
        assert (first[1], before[1]) == (b"1", b"2")
        assert after[1] == b"3", "the record is not the last one kept"  # the 503's count, or the lost write's, again


#: A session larger than Python's write buffer (the file system's block size, or io's default,
#: 8 KiB): its pickle goes to the file from the first write() call, and a write refused there
#: leaves the temporary file empty, not unwritten.
BIG = io.DEFAULT_BUFFER_SIZE * 2
PADDED = Change("nothing: /count also keeps a value larger than Python's write buffer in the session",
                "            session.count += 1\n",
                f"            session.count += 1\n            session.padding = 'x' * {BIG}\n", file="counting.py")
WEB_PY_WRITE = Change("the store's own write (a temporary file replaced only once written): web.py's DiskStore's",
                      "    def __setitem__(self, key, value):\n        try:\n",
                      "    def unused(self, key, value):\n        try:\n")


def session_file(server, cookie):
    return server.log_path.parent / "sessions" / cookie.partition("=")[2]


@pytest.mark.parametrize("defence", [True, False], ids=["the hardening store", "web.py's DiskStore write"])
def test_a_session_larger_than_the_write_buffer_on_a_full_disk(defence, piped_server, tmp_path):
    """web.py's DiskStore.__setitem__ moves its temporary file over the session's in a `finally`: when
    write() itself fails (a session above the buffer size), the empty file replaces the good one, and
    every later request of that session fails to read it, even once the disk has room again. The
    hardening recipe's store replaces the file only once it is written, and answers 503."""
    changes = [PADDED] if defence else [PADDED, WEB_PY_WRITE]
    server = piped_server(recipe_copy("hardening", tmp_path / "app", *changes))
    first = get(server, "/count")
    cookie = first.cookie(RECIPES_CATALOGUE["hardening"].cookie)
    assert (first.text, get(server, "/count", cookie=cookie).text) == ("1", "2")
    assert session_file(server, cookie).stat().st_size > BIG
    with disk(server, "full"):
        during = get(server, "/count", cookie=cookie)
    after = [get(server, "/count", cookie=cookie) for _ in range(2)]
    if defence:
        assert (during.status, during.body) == THE_503
        assert [answer.text for answer in after] == ["3", "4"]
    else:
        assert during.status == 200  # the write "lost", as for a small session...
        assert session_file(server, cookie).stat().st_size == 0  # ...but the file is now empty
        assert [answer.status for answer in after] == [500, 500]
        assert "EOFError" in server.log()


def test_a_cart_larger_than_the_write_buffer_is_destroyed_by_a_full_disk(piped_server):
    """The cart recipe keeps web.py's DiskStore: one long item makes its session larger than the buffer."""
    server = piped_server(RECIPES_CATALOGUE["cart"].app)
    cookie = get(server, "/cart").cookie()
    item = "x" * BIG
    assert post(server, "/cart/add", form={"item": item}, cookie=cookie).status == 303
    assert get(server, "/cart", cookie=cookie).text == f"1 {item}\n"
    with disk(server, "full"):
        assert post(server, "/cart/add", form={"item": "plum"}, cookie=cookie).status == 303
    assert session_file(server, cookie).stat().st_size == 0
    assert [get(server, "/cart", cookie=cookie).status for _ in range(2)] == [500, 500]


THRESHOLD = """
import os, resource, sys, web
store = web.session.DiskStore("sessions")
buffer = os.stat("sessions").st_blksize  # open() buffers a file by its file system's block size
for size in (buffer - 200, buffer + 200):  # bytes of the stored session, base64 and all
    store["abc"] = {"n": 0}
    value = {"n": 1, "padding": "x" * (size * 3 // 4 - 50)}
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))  # the disk full for this write only
    store["abc"] = value
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    print(buffer, len(store.encode(value)) > buffer, os.path.getsize("sessions/abc"))
"""


def test_the_session_web_py_destroys_is_the_one_larger_than_the_write_buffer(tmp_path):
    if sys.platform != "linux":
        missing("Linux's RLIMIT_FSIZE (the fault is made with it)", "run on Linux, as CI does")
    printed = subprocess.run([sys.executable, "-c", THRESHOLD], cwd=tmp_path, env=python_env(),
                             capture_output=True, text=True, check=True).stdout.split("\n")[:2]
    (buffer, under, kept), (_, over, left) = (line.split() for line in printed)
    assert (under, int(kept) > 0, over, left) == ("False", True, "True", "0"), printed
    print(f"\nwrite buffer: {buffer} bytes")
