"""Bind each session to its client's address, also behind a reverse proxy."""
import ipaddress
import os
import sys

import cheroot.server
import web

from cache_control import keep_sessions_out_of_caches
from counting import counter_pages

# The debugger's reloader imports this module a second time and the two
# Session objects fight over the request: keep debug off with sessions.
web.config.debug = False

urls = (
    "/count", "count",
    "/reset", "reset",
)


def networks(text):
    """TRUSTED_PROXIES: comma-separated addresses or networks, such as 10.0.0.0/8."""
    try:
        return [ipaddress.ip_network(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError as error:
        sys.exit(f"TRUSTED_PROXIES={text!r}: {error}")


TRUSTED_PROXIES = networks(os.environ.get("TRUSTED_PROXIES", ""))


def is_trusted_proxy(address):
    try:
        address = ipaddress.ip_address(address)
    except ValueError:  # not an address at all
        return False
    # A server listening on [::] sees an IPv4 proxy as ::ffff:a.b.c.d: compare its IPv4 form.
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in network for network in TRUSTED_PROXIES)


# --8<-- [start:client]
def client_address(environ):
    """The peer, unless it is a trusted proxy: then the address that proxy saw.

    Each proxy appends the address it saw to X-Forwarded-For, so read it from
    the right; entries left of the first untrusted one come from the client
    and prove nothing.
    """
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "").split(",")
    hops = [environ["REMOTE_ADDR"], *(hop.strip() for hop in reversed(forwarded) if hop.strip())]
    for address in hops:
        if not is_trusted_proxy(address):
            return address
    return hops[-1]  # proxies all the way: the farthest one
# --8<-- [end:client]


class DropUnderscoredHeaders(cheroot.server.HeaderReader):
    """Drop request headers whose names contain "_", as nginx does by default.

    web.py's built-in server, cheroot, gives X_Forwarded_For the same WSGI name as
    X-Forwarded-For, HTTP_X_FORWARDED_FOR. (cheroot's own DropUnderscoreHeaderReader
    looks for a str in the bytes of the name, and fails every request.)
    """

    def _allow_header(self, key_name):
        return b"_" not in key_name


cheroot.server.HTTPRequest.header_reader = DropUnderscoredHeaders()  # the built-in server only


# --8<-- [start:bind]
def bind_session_to_client(handler):
    # Before the session's own processor, which compares web.ctx.ip with the
    # address that created the session (ignore_change_ip=False below).
    web.ctx.ip = client_address(web.ctx.env)
    try:
        return handler()
    except web.session.SessionExpired:
        # web.py answers 200 "Session expired"; with ignore_expiry left True,
        # only the address check gets here.
        raise web.forbidden("This session belongs to another address.\n")


app = web.application(urls, locals())
app.add_processor(keep_sessions_out_of_caches)  # before the Session; why: see the cookies recipe
app.add_processor(bind_session_to_client)  # before Session() adds its own
web.config.session_parameters.ignore_change_ip = False
session = web.session.Session(
    app, web.session.DiskStore("sessions"), initializer={"count": 0}
)
# --8<-- [end:bind]


count, reset = counter_pages(session)  # the counter's pages (counting.py, from Counting visits)


if __name__ == "__main__":
    app.run()
