"""What logging in and out with web.py sessions needs: copy this file into your app (the login
recipe's app.py shows its use): passwords checked against scrypt hashes, the same way for unknown
names; a new session id at login; a store that a logout cannot be undone in; the form read safely."""
import contextlib
import hashlib
import hmac
import os

import web


class FinalDiskStore(web.session.DiskStore):
    """A DiskStore that a request still running at logout cannot give the session back to.

    web.py saves the session after every request, even one deleted since it was loaded. Here
    deleting leaves a mark, <id>.deleted, then removes the file; saving writes the file, then
    removes it if it finds the mark. A save that writes before the mark is removed by the
    deletion; one that writes after finds the mark. web.py's cleanup removes old marks too.
    """

    def _mark(self, key):
        return self._get_path(key) + ".deleted"

    def __contains__(self, key):
        return super().__contains__(key) and not os.path.exists(self._mark(key))

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if os.path.exists(self._mark(key)):
            self._remove(key)

    def __delitem__(self, key):
        open(self._mark(key), "w").close()  # the mark first, then the file
        self._remove(key)

    def _remove(self, key):
        with contextlib.suppress(FileNotFoundError):  # another request may delete it too
            os.remove(self._get_path(key))


def password_hash(password, salt):
    # scrypt is slow and memory-hungry on purpose: a stolen hash is costly to guess.
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=5)


# The demo account (alice / wonderland, as the login page says): a salt and a hash only.
USERS = {
    "alice": (
        bytes.fromhex("25ea556f8fcff6f8d9e73e54e1837dfb"),
        bytes.fromhex(
            "99fe297d304a28488f8de81bcad21789a0818cd13117528fd974ec15d17cb928"
            "7abf2c109cc732a9ffdeda742088cb13c0e36c8b819141650036a03489c4fa8a"
        ),
    ),
}
# Hashed against for unknown names, so that they take as long as a wrong password.
NOBODY = (os.urandom(16), os.urandom(64))


# --8<-- [start:login]
def credentials_match(username, password):
    """True for a known name and its password; an unknown name costs the same hashing."""
    salt, expected = USERS.get(username, NOBODY)
    # compare_digest does not stop at the first byte that differs.
    return hmac.compare_digest(password_hash(password, salt), expected) and username in USERS


def rotate_session_id(session):
    """Move the session to a new id: an id planted or read before login is now worthless."""
    old_id = session.session_id
    # web.py 0.76 has no API for this; it saves the session under the new id after the handler.
    session.session_id = session._generate_session_id()
    del session.store[old_id]
    session.pop("csrf_token", None)  # a new one for the new id (csrf recipe): one seen before is worthless
# --8<-- [end:login]


def form_fields(*names):
    """The named fields of the posted form as text ("" if missing, the last of repeated ones);
    400 for a body not in UTF-8 or an uploaded file."""
    try:
        form = web.input(_method="post", **dict.fromkeys(names, ""))  # not the query string
    except UnicodeDecodeError:  # web.py 0.76 fails on a body that is not UTF-8
        raise web.badrequest()
    values = [form[name] for name in names]
    if not all(isinstance(value, str) for value in values):  # an uploaded file
        raise web.badrequest()
    return values
