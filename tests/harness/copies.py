"""A recipe copied with a defence taken out (or another change), to show what the defence stops.

A change is anchored on code: the text it replaces must be in the file exactly once and hold no
comment, so that rewording a recipe's comment never breaks a test. When the anchor is gone, the
failure names the defence the test takes out, so its author knows what to look for.
"""
import errno
import io
import os
import shutil
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness import RECIPES
from harness.client import get, post


@dataclass(frozen=True)
class Change:
    defence: str  # what the change takes out (or does), in words: "the CSRF check"
    old: str  # code of the recipe, found exactly once; no comment
    new: str = ""
    file: str = None  # the recipe's file it is in, when not the one recipe_copy runs


class AnchorMissing(AssertionError):
    pass


def comment_spans(source):
    """(start, end) offsets of every comment in a Python source."""
    starts = [0]
    for line in io.StringIO(source):
        starts.append(starts[-1] + len(line))
    spans = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            (row, column), (end_row, end_column) = token.start, token.end
            spans.append((starts[row - 1] + column, starts[end_row - 1] + end_column))
    return spans


def changed(source, changes, where="the recipe"):
    """`source` with each change made; AnchorMissing when an anchor is not code found exactly once."""
    for change in changes:
        found = source.count(change.old)
        if found != 1 or not change.old.strip():
            raise AnchorMissing(f"cannot take out {change.defence}: its code is in {where} {found} times, "
                                f"not once:\n{change.old}")
        start = source.index(change.old)
        end = start + len(change.old)
        if where.endswith(".py") and any(start < stop and begin < end for begin, stop in comment_spans(source)):
            raise AnchorMissing(f"cannot take out {change.defence}: its anchor in {where} holds a comment; "
                                f"anchor on code only:\n{change.old}")
        source = source.replace(change.old, change.new)
    return source


def recipe_copy(slug, directory, *changes, file="app.py"):
    """recipes/<slug>/<file> itself, or, with changes, a copy of the recipe's folder in `directory`
    (links followed) with them made in <file> (or the file a change names); the path of the file to run."""
    if not changes:
        return RECIPES / slug / file
    shutil.copytree(RECIPES / slug, directory, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "sessions", "*.log"))
    for name in dict.fromkeys(change.file or file for change in changes):
        edited = directory / name
        edited.write_text(changed(edited.read_text(), [change for change in changes if (change.file or file) == name],
                                  f"recipes/{slug}/{name}"))
    return directory / file


def unchanged_copy(slug, directory):
    """A copy of recipes/<slug>/ in `directory` (links followed), as it is: for a test that edits
    it while it runs (an edit the reloader sees), which recipe_copy's changes made before cannot show.
    Edit it with `changed`."""
    shutil.copytree(RECIPES / slug, directory, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "sessions", "*.log"))
    return directory


#: Code for a copy of a recipe (add it with a Change): ``hold()``, called where a request must
#: stop, tells the test it got there (the file held-<n>, n counting the holds from 1) and waits for
#: the test's go (the fifo go-<n>), in the server's working directory. The test's side: `Holds`.
HOLD = '''

def hold():
    number = next(hold.numbers)
    open(f"held-{number}", "w").close()
    with open(f"go-{number}") as go:
        go.read()


hold.numbers = __import__("itertools").count(1)

'''


class Holds:
    """The test's side of HOLD: the `count` holds of a copy of a recipe running in `directory`.
    Concurrent requests then run in the order the test makes, never by sleeping."""

    def __init__(self, directory, count):
        self.directory = directory
        for number in range(1, count + 1):
            os.mkfifo(directory / f"go-{number}")

    def wait(self, number, timeout=30):
        """Until the `number`th hold is reached."""
        deadline = time.monotonic() + timeout
        while not (self.directory / f"held-{number}").exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"no request reached hold {number} in {timeout} s")
            time.sleep(0.005)

    def release(self, number, timeout=30):
        """The request held at hold `number` goes on."""
        deadline = time.monotonic() + timeout
        while True:
            try:  # opening a fifo to write fails (ENXIO), without blocking, until its reader opens it
                os.close(os.open(self.directory / f"go-{number}", os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError as error:
                if error.errno != errno.ENXIO or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)


#: A copy whose GET /count stops at hold() once the session is loaded, before the count goes up.
HELD_COUNT = [Change("nothing: adds the test's hold()", "\n\n\ndef counter_pages(session):\n",
                     HOLD + "\ndef counter_pages(session):\n", file="counting.py"),
              Change("nothing: /count waits for the test before counting", "            session.count += 1\n",
                     "            hold()\n            session.count += 1\n", file="counting.py")]


def overlap_on_a_held_count(server, directory, last, meanwhile):
    """On a HELD_COUNT copy running in `directory`: a first /count; a second /count of that session,
    held once it has loaded the session while `meanwhile(cookie, count)` runs; then a last /count
    with the first cookie, reaching hold `last`. Returns what the last one counts.
    `count(number, cookie)` sends a /count that reaches hold `number`, lets it go on, returns its answer."""
    holds = Holds(directory, last)
    with ThreadPoolExecutor(max_workers=2) as pool:
        def count(number, cookie=None):
            answer = pool.submit(get, server, "/count", cookie=cookie)
            holds.wait(number)
            holds.release(number)
            return answer.result()

        cookie = count(1).cookie()
        held = pool.submit(get, server, "/count", cookie=cookie)
        holds.wait(2)
        other = meanwhile(cookie, count)
        holds.release(2)
        assert (held.result().status, other.status) == (200, 200), (held.result(), other)
        return int(count(last, cookie).text)


def count_after_an_overlap(server, directory):
    """Another /count of the session answered while one is held: the last /count counts 4 when each
    request counted, 3 when one update was lost."""
    return overlap_on_a_held_count(server, directory, 4, lambda cookie, count: count(3, cookie))


def count_after_an_overlapping_reset(server, directory):
    """/reset of the session answered while a /count is held: the last /count, with the old cookie,
    counts 3 when the held request stored the reset session again (the reset undone), 1 when the old
    id no longer leads to a session."""
    return overlap_on_a_held_count(server, directory, 3, lambda cookie, count: post(server, "/reset", cookie=cookie))
