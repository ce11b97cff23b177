"""Try web.config.session_parameters from the environment: SESSION_<KEY>=value."""
import os
import sys

import web

web.config.debug = False

urls = (
    "/count", "count",
    "/reset", "reset",
    "/app/count", "count",
)


def setting(key, text):
    """Turn SESSION_<KEY>'s text into a value of the same kind as web.py's default."""
    default = web.config.session_parameters[key]
    if isinstance(default, bool):
        if text not in ("True", "False"):
            raise ValueError("expected True or False")
        return text == "True"
    if isinstance(default, int):
        if not text.isdigit():
            raise ValueError("expected a whole number of seconds")
        return int(text)
    if key == "samesite" and text.lower() not in ("strict", "lax", "none"):
        # web.py would silently drop any other value from the cookie.
        raise ValueError("expected Strict, Lax or None")
    return text


# Parameters are copied when Session() is created: set them first.
for name, text in os.environ.items():
    key = name.removeprefix("SESSION_").lower()
    if not name.startswith("SESSION_"):
        continue
    if key not in web.config.session_parameters:
        sys.exit(f"{name}: not a session parameter (known: {', '.join(web.config.session_parameters)})")
    try:
        web.config.session_parameters[key] = setting(key, text)
    except ValueError as error:
        sys.exit(f"{name}={text!r}: {error}")

app = web.application(urls, locals())
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"count": 0}
)


class count:
    def GET(self):
        session.count += 1
        return str(session.count)


class reset:
    def GET(self):
        session.kill()
        return "Reset"


if __name__ == "__main__":
    app.run()
