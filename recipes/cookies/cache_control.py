"""No cache keeps a session's answer: copy this file into your app, and add the processor
before creating the Session: app.add_processor(keep_sessions_out_of_caches)."""
import web


def keep_sessions_out_of_caches(handler):
    """`Cache-Control: no-store` on every answer that sets a cookie or whose handler said nothing
    of caching. A handler's own Cache-Control (`public` on a page that uses no session) is kept
    only on an answer that sets no cookie."""
    try:
        return handler()
    finally:
        # Added before the Session, this runs around it: the session's cookie is set by now.
        headers = web.ctx.headers
        sets_a_cookie = any(name.lower() == "set-cookie" for name, _ in headers)
        said = any(name.lower() == "cache-control" for name, _ in headers)
        if sets_a_cookie or not said:
            # An id, or one visitor's page: no cache may keep it, shared or the browser's.
            headers[:] = [(name, value) for name, value in headers if name.lower() != "cache-control"]
            headers.append(("Cache-Control", "no-store"))
