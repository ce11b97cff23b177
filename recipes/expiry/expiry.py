"""Logins that end when left idle or open for too long: copy this file into your app. Call
start_login_clock(session) at login, and end_login_if_expired(session, idle, absolute) once the
session is loaded, before anything uses the login (the expiry recipe's app.py does it in a processor)."""
import time

import web


def start_login_clock(session):
    session.login_time = session.last_seen = time.time()


def end_login_if_expired(session, idle_timeout, absolute_timeout):
    """Log out a login idle or open for too long, redirecting to the login page; or note it was seen now."""
    if session.get("username"):
        now = time.time()
        if now - session.last_seen > idle_timeout or now - session.login_time > absolute_timeout:
            session.kill()
            raise web.seeother("/login?expired=1")
        session.last_seen = now
