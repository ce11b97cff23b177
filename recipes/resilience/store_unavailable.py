"""A session store that fails answers 503 Service Unavailable in one line, not web.py's 500:
copy this file into your app and call answer_503_when_the_store_fails(app, <the store's errors>)."""
import sys

import web

UNAVAILABLE = "The session store is unavailable, try again later.\n"


class StoreUnavailable(Exception):
    """What a store raises when it cannot answer now: it is down, or this visitor's record cannot be read."""


def answer_503_when_the_store_fails(app, *store_errors):
    """`app` answers 503 to an error of one of the classes `store_errors`, and any other error with
    the 500 it answered before."""
    # The handler in place, not web.internalerror(), which would call this one again, and again.
    answer_otherwise = app.internalerror

    def internal_error():
        if isinstance(sys.exc_info()[1], store_errors):
            return web.HTTPError("503 Service Unavailable", data=UNAVAILABLE)
        return answer_otherwise()

    app.internalerror = internal_error
