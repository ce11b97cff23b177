"""Password guessing limited: login attempts are counted per user name and per client address,
and past a limit of failures the next ones get 429 Too Many Requests, before any password is
hashed, until the window has passed. Copy this file into your app (the login recipe shows its use)."""
import contextlib
import math
import threading
import time

import web


class Throttle:
    """At most `per_name` failures per user name and `per_address` per address in `window` seconds."""

    def __init__(self, per_name=5, per_address=20, window=15 * 60):
        self.limits = {"name": per_name, "address": per_address}
        self.window = window
        self.failures = {}  # ("name", "alice") or ("address", "127.0.0.1") -> times of failures
        self.lock = threading.Lock()  # web.py's server answers requests in threads

    # --8<-- [start:attempt]
    def attempt(self, username, address):
        """Count the attempt as a failure before its password is hashed, so that parallel
        guessers cannot pass the limit; past it, 429 with Retry-After, and nothing hashed."""
        now = time.time()  # read at each call: a test can move it on
        keys = [("name", username), ("address", address)]
        with self.lock:
            self.failures = {key: kept for key, times in self.failures.items()  # forget old ones
                             if (kept := [t for t in times if t > now - self.window])}
            counted = {key: self.failures.get(key, []) for key in keys}
            waits = [times[-self.limits[key[0]]] + self.window - now
                     for key, times in counted.items() if len(times) >= self.limits[key[0]]]
            if not waits:
                for key in keys:
                    self.failures.setdefault(key, []).append(now)
        if waits:
            raise web.HTTPError("429 Too Many Requests", {"Content-Type": "text/plain; charset=utf-8",
                                                          "Retry-After": str(math.ceil(max(waits)))},
                                "Too many failed logins: try again later.\n")
        return keys, now
    # --8<-- [end:attempt]

    def succeeded(self, attempt):
        """The attempt was no failure: take it back."""
        keys, when = attempt
        with self.lock:
            for key in keys:
                with contextlib.suppress(KeyError, ValueError):  # forgotten meanwhile
                    self.failures[key].remove(when)
