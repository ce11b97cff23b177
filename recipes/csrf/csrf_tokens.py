"""Forms protected from cross-site request forgery by a token kept in the session: copy this file
into your app, put csrf_token(session) in a hidden field of each form that changes something, and
call check_token(session, sent) first in its POST handler (the csrf recipe's app.py shows how)."""
import hmac
import secrets

import web


def csrf_token(session):
    """The session's token, made on first use: one per session, so every open tab has it."""
    if not session.get("csrf_token"):
        session.csrf_token = secrets.token_urlsafe(32)
    return session.csrf_token


def token_is_valid(session, sent):
    # compare_digest takes as long wherever the two differ; as bytes, since it
    # refuses text with non-ASCII characters.
    return hmac.compare_digest(sent.encode(), csrf_token(session).encode())


def check_token(session, sent):
    """403 Forbidden unless `sent` is the session's token, which another site cannot know."""
    if not token_is_valid(session, sent):
        # Refused, nothing changes: no save, and no cookie.
        session.send_cookie = False
        raise web.forbidden("Forbidden: the form's token is missing or wrong.\n")
