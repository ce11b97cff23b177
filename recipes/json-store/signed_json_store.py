"""A web.py session store of signed JSON, not pickle: a record edited on disk is no session."""
import datetime
import hmac
import json
import os
import sys
import tempfile
import threading

import web

from store_unavailable import StoreUnavailable  # what the 503 answer catches (resilience recipe)


def to_json(value):
    """json.dumps calls this for what JSON has no type for: sets, dates and datetimes, tagged."""
    if isinstance(value, set):
        return {"$set": list(value)}
    if isinstance(value, datetime.datetime):  # before date: a datetime is a date
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    raise TypeError(f"{type(value).__name__} does not fit in JSON")


FROM_JSON = {"$set": set, "$datetime": datetime.datetime.fromisoformat, "$date": datetime.date.fromisoformat}


def from_json(obj):
    """json.loads calls this for every object read: tagged objects become sets and dates again."""
    if len(obj) == 1:
        [(tag, value)] = obj.items()
        if tag in FROM_JSON:
            return FROM_JSON[tag](value)
    return obj


UNREADABLE = object()


def read_back(payload):
    """What the store reads from payload; UNREADABLE when reading fails (a dictionary of yours tagged like ours)."""
    try:
        return json.loads(payload, object_hook=from_json)
    except (TypeError, ValueError):  # {"$date": "nope"}: no date; {"$set": [[1]]}: a set cannot hold lists
        return UNREADABLE


def same(value, back):
    """Whether back equals value with the same types all the way down: == takes a dict for a web.storage."""
    if type(value) is not type(back):
        return False
    if isinstance(value, (dict, set)):  # keys and members: found in back, and of the same types
        found = {item: item for item in back}
        return len(value) == len(back) and all(
            item in found and same(item, found[item]) and (isinstance(value, set) or same(value[item], back[item]))
            for item in value)
    if isinstance(value, list):
        return len(value) == len(back) and all(map(same, value, back))
    if isinstance(value, datetime.datetime):  # a ZoneInfo would come back as a fixed offset
        return value == back and same(value.tzinfo, back.tzinfo)
    return value == back


class SignedJsonStore(web.session.DiskStore):
    """DiskStore whose files hold the session as JSON, then an HMAC of the session id and the JSON."""

    def __init__(self, root, secret):
        super().__init__(root)
        self.secret = secret.encode()
        self.checked = threading.local()  # (id, session) __contains__ read and checked, for __getitem__

    # --8<-- [start:signed]
    def _signature(self, key, payload):
        digest = hmac.new(self.secret, f"{key}\n".encode() + payload, "sha256").hexdigest()
        return f"hmac-sha256:{digest}".encode()

    def _read(self, key):
        """The session stored under key, or None when there is none or its signature is wrong."""
        try:
            with open(self._get_path(key), "rb") as file:
                payload, _, signature = file.read().rstrip(b"\n").rpartition(b"\n")
        except OSError:  # no such file, or an id too long for a file name (as in DiskStore)
            return None
        if not hmac.compare_digest(signature, self._signature(key, payload)):
            print(f"Refused the session record {key}: bad signature", file=sys.stderr)
            return None
        return json.loads(payload, object_hook=from_json)  # only what this store wrote and signed
    # --8<-- [end:signed]

    def __contains__(self, key):
        # web.py asks this first: a refused record is "not there", a fresh session (later, a 500).
        self.checked.session = key, self._read(key)
        return self.checked.session[1] is not None

    def __getitem__(self, key):
        checked_key, session = getattr(self.checked, "session", (None, None))
        self.checked.session = None, None  # used once: the file may change before the next request
        if checked_key != key:
            session = self._read(key)
        if session is None:
            raise KeyError(key)
        return session

    def __setitem__(self, key, value):
        payload = json.dumps(value, default=to_json).encode()  # TypeError for what JSON has no type for
        if not same(value, read_back(payload)):  # tuples would come back as lists, integer keys as strings...
            # Name the values: each read back alone, and the names JSON would make strings.
            changed = [name for name in value if not isinstance(name, str)
                       or not same(value[name], read_back(json.dumps(value[name], default=to_json)))]
            names = ", ".join(map(str, changed))
            raise TypeError(f"JSON would change these session values: {names}")
        try:
            # A new file, mode 0600, that no other thread or process writes.
            descriptor, temporary = tempfile.mkstemp(dir=self.root)
            with os.fdopen(descriptor, "wb") as file:
                file.write(payload + b"\n" + self._signature(key, payload) + b"\n")
            os.replace(temporary, self._get_path(key))
        except OSError as error:  # a full or read-only disk: the app answers 503, not 500
            raise StoreUnavailable(error) from error
