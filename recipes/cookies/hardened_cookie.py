"""web.py's session cookie, hardened: copy this file into your app and call
use_hardened_session_cookie() before creating the Session, which copies the parameters; after
creating it, app.add_processor(no_new_cookie_for_a_post_without_one(session))."""
import web

SAMESITE_VALUES = ("Strict", "Lax", "None")


# --8<-- [start:cookie]
def use_hardened_session_cookie(samesite="Lax"):
    if samesite not in SAMESITE_VALUES:
        raise ValueError(f"samesite={samesite!r}: expected Strict, Lax or None")
    web.config.session_parameters.update(
        # A name that does not say web.py. Browsers refuse a __Host- cookie unless it is
        # Secure, on Path=/ and without Domain: no other host of your domain can set one.
        cookie_name="__Host-sid",
        cookie_path="/",  # the whole host, wherever the application is mounted
        cookie_domain=None,  # this host only, not its subdomains
        secure=True,  # not over plain HTTP (loopback addresses excepted)
        httponly=True,  # out of reach of the page's scripts
        samesite=samesite,  # what other sites' links and forms carry
    )
# --8<-- [end:cookie]


def no_new_cookie_for_a_post_without_one(session):
    """A loadhook, added after the Session (web.py then runs it with the session loaded): a post
    that arrives without the cookie (another site's form, under Lax) gets no new session's cookie,
    whatever its answer (403, 404, 405...): that cookie would replace the visitor's."""

    def hook():
        cookie = web.cookies().get(web.config.session_parameters.cookie_name)
        if web.ctx.method not in ("GET", "HEAD") and not cookie:
            session.send_cookie = False

    return web.loadhook(hook)
