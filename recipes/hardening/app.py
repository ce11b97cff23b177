"""Count visits with a session store other local users cannot read."""
import contextlib
import ipaddress
import os
import sys
import tempfile

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages
from store_unavailable import answer_503_when_the_store_fails

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False

urls = (
    "/count", "count",
    "/reset", "reset",
)


class StoreUnavailable(Exception):
    """The disk refused to keep a session: full or read-only."""


# --8<-- [start:store]
class PrivateDiskStore(web.session.DiskStore):
    """DiskStore whose directory is 0700 and files 0600, written through unique temporary files."""

    def __init__(self, root):
        os.makedirs(root, mode=0o700, exist_ok=True)  # the umask only takes bits away: never open to others
        os.chmod(root, 0o700)  # also closes a directory that DiskStore made 0755
        self.root = root

    def __setitem__(self, key, value):
        try:
            # mkstemp: a new file, mode 0600, with a name no other thread or process uses.
            descriptor, temporary = tempfile.mkstemp(dir=self.root)
            try:
                with os.fdopen(descriptor, "wb") as file:
                    file.write(self.encode(value))
                os.replace(temporary, self._get_path(key))
            except BaseException:
                os.remove(temporary)
                raise
        except OSError as error:  # a full or read-only disk: a 503 (store_unavailable.py), not a 500
            raise StoreUnavailable(error) from error

    def __delitem__(self, key):
        with contextlib.suppress(FileNotFoundError):  # deleted meanwhile by another request
            os.remove(self._get_path(key))
# --8<-- [end:store]


# --8<-- [start:session]
class DeletionTolerantSession(web.session.Session):
    """A session deleted by another request between web.py's checks and its read is not an error."""

    def _load(self):
        try:
            super()._load()
        except (KeyError, FileNotFoundError):  # DiskStore's, naming the id: a 500 with web.py's Session
            super()._load()  # not in the store any more: a new session, as for an unknown id
# --8<-- [end:session]


def development():
    """Only web.py's own server on a loopback address, `python app.py 127.0.0.1:8080`."""
    if __name__ != "__main__" or {"PORT", "SERVER_SOFTWARE", "PHP_FCGI_CHILDREN"} & set(os.environ):
        return False  # imported by a WSGI server, or web.py listens on 0.0.0.0:$PORT or serves (Fast)CGI
    if {"fcgi", "fastcgi", "scgi"} & set(sys.argv[1:]):
        return False  # FastCGI or SCGI, for another server: not web.py's own
    try:
        host = web.net.validip(sys.argv[1] if len(sys.argv) > 1 else "")[0]
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a socket path or a name, not a loopback address: a secret is required
        return False


secret = os.environ.get("SESSION_SECRET")
if secret:
    web.config.session_parameters.secret_key = secret
elif not development():
    sys.exit("SESSION_SECRET is not set; only a server on a loopback address "
             "(python app.py 127.0.0.1:8080) may start without it")

secure = os.environ.get("SESSION_COOKIE_SECURE", "True")
if secure not in ("True", "False"):
    sys.exit(f"SESSION_COOKIE_SECURE={secure!r}: expected True or False")
web.config.session_parameters.secure = secure == "True"

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
try:
    store = PrivateDiskStore("sessions")
except OSError as error:
    sys.exit(f"sessions: {error}")


# A store that fails answers 503 in one line (store_unavailable.py, from "When the store is down").
answer_503_when_the_store_fails(app, StoreUnavailable)
session = DeletionTolerantSession(app, store, initializer={"count": 0})


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
