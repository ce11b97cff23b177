"""A web.py session loaded only when a handler first uses it, and saved (with its cookie) only
if it changed: copy this file into your app (the lazy recipe's app.py shows its use)."""
import copy

import web


class LazySession(web.session.Session):
    """web.py's Session, loaded when a handler first uses it, saved (with the cookie) only if changed."""

    # --8<-- [start:load]
    def _processor(self, handler):
        # web.py's own processor loads the session before every request and saves it after.
        try:
            return handler()
        finally:
            before = web.ctx.get("session_before")
            if before is not None and dict(self._data) != before:  # used, and changed
                self._save()

    def _use(self):
        if "session_before" not in web.ctx:
            web.ctx.session_before = None  # web.py's _load sets attributes: do not load again
            self._cleanup()
            self._load()
            # A deep copy, so that changes made in place count too.
            web.ctx.session_before = copy.deepcopy(dict(self._data))
    # --8<-- [end:load]

    # Every way into the session's data loads it first: attributes, `in` and items.
    def __getattr__(self, name):
        self._use()
        return super().__getattr__(name)

    def __setattr__(self, name, value):
        if name not in web.session.Session.__slots__:
            self._use()
        super().__setattr__(name, value)

    def __delattr__(self, name):
        self._use()
        super().__delattr__(name)

    def __contains__(self, name):
        self._use()
        return super().__contains__(name)

    def __getitem__(self, name):
        self._use()
        return self._data[name]

    def __setitem__(self, name, value):
        self._use()
        self._data[name] = value

    def __delitem__(self, name):
        self._use()
        del self._data[name]
