"""Count visits on disk; idle sessions are removed by `python app.py --cleanup`, never in a request."""
import os
import sys
import time

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages

web.config.debug = False  # the reloader and sessions do not mix (see the count recipe)


# --8<-- [start:store]
class DiskStoreCleanedOutside(web.session.DiskStore):
    """web.py's DiskStore, whose cleanup runs only when `--cleanup` asks for it (and may remove a file meanwhile)."""

    def cleanup(self, timeout):
        pass  # web.py calls this inside requests, where listing every file slows and races

    def remove_idle(self, timeout):
        """Remove the sessions not saved for `timeout` seconds; return (removed, kept)."""
        removed = kept = 0
        oldest_allowed = time.time() - timeout
        for entry in os.scandir(self.root):
            try:
                # The modification time: web.py rewrites the file on every request, and nothing
                # else does, whereas reading it (a backup) may move its access time.
                if entry.stat().st_mtime < oldest_allowed:
                    os.remove(entry.path)
                    removed += 1
                else:
                    kept += 1
            except FileNotFoundError:
                pass  # removed by /reset, or a request's temporary file renamed, meanwhile
        return removed, kept
# --8<-- [end:store]

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except FileNotFoundError:  # removed by --cleanup between DiskStore's exists() and its open()
            raise KeyError(key) from None

    def __delitem__(self, key):
        try:
            super().__delitem__(key)
        except FileNotFoundError:  # removed by --cleanup between DiskStore's exists() and its remove()
            pass


class DeletionTolerantSession(web.session.Session):
    """A session removed by --cleanup between web.py's `in` and its read gets a fresh session, not a 500."""

    def _load(self):
        try:
            super()._load()
        except KeyError:  # the store's, naming the id, a 500 with web.py's Session
            super()._load()  # not in the store any more: a new session, as for an unknown id


urls = (
    "/count", "count",
    "/reset", "reset",
)

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
cleaning = sys.argv[1:] == ["--cleanup"]  # `python app.py --cleanup` instead of a port

# Checked by the server too, so that a typo shows on start, not in the first cleanup.
timeout_text = os.environ.get("SESSION_TIMEOUT", "86400")
if not timeout_text.isdecimal() or int(timeout_text) == 0:
    sys.exit(f"SESSION_TIMEOUT={timeout_text!r}: expected a whole number of seconds, at least 1")

# One file per session in ./sessions, next to wherever the app is started. Elsewhere,
# --cleanup would make an empty sessions/ and quietly find nothing: refuse instead.
if cleaning and not os.path.isdir("sessions"):
    sys.exit("No sessions/ here: run --cleanup from the directory the app is started in")
store = DiskStoreCleanedOutside("sessions")
session = DeletionTolerantSession(app, store, initializer={"count": 0})


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


# --8<-- [start:command]
if __name__ == "__main__":
    if cleaning:
        removed, kept = store.remove_idle(int(timeout_text))
        print(f"idle sessions: {removed} removed, {kept} kept")
    else:
        app.run()
# --8<-- [end:command]
