"""Try web.config.session_parameters from the environment: WEBPY_SESSION_<KEY>=value."""
import os
import sys

import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages

web.config.debug = False

urls = (
    "/count", "count",
    "/reset", "reset",
    "/app/count", "count",
)


def setting(key, text):
    """Turn WEBPY_SESSION_<KEY>'s text into a value of the same kind as web.py's default."""
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


# --8<-- [start:parameters]
# Parameters are copied when Session() is created: set them first. The prefix keeps
# other programs' variables (SESSION_MANAGER on a Linux desktop) out.
PREFIX = "WEBPY_SESSION_"
for name, text in os.environ.items():
    if not name.startswith(PREFIX):
        continue
    key = name.removeprefix(PREFIX).lower()
    if key not in web.config.session_parameters:
        sys.exit(f"{name}: not a session parameter (known: {', '.join(web.config.session_parameters)})")
    try:
        web.config.session_parameters[key] = setting(key, text)
    except ValueError as error:
        sys.exit(f"{name}={text!r}: {error}")

samesite = web.config.session_parameters.samesite
if isinstance(samesite, str) and samesite.lower() == "none" and not web.config.session_parameters.secure:
    # web.py would send it; Chromium, for one, would drop the cookie.
    sys.exit(f"{PREFIX}SAMESITE={samesite} needs {PREFIX}SECURE=True: Chromium, for one, rejects it otherwise")

app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"count": 0}
)
# --8<-- [end:parameters]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
