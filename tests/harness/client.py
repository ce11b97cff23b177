"""The tests' one HTTP client: every request answers a Response, whatever the test asks.

Requests go to 127.0.0.1 only, on a connection of their own, redirects not followed.
"""
import http.client
import re
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

SESSION_COOKIE = "webpy_session_id"
#: The session cookie's names in the recipes: web.py's, and the hardened cookie's (cookies recipe).
SESSION_COOKIES = (SESSION_COOKIE, "__Host-sid")


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage  # case-insensitive; headers.get_all("Set-Cookie") for each one
    body: bytes

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def cookie(self, name=None):
        """``name=value`` of the Set-Cookie that sets `name` (by default, the session's, by either of
        its names), to send back; None if none does."""
        for header in self.headers.get_all("Set-Cookie") or []:
            pair = header.split(";")[0].strip()
            if pair.split("=")[0] in ([name] if name else SESSION_COOKIES):
                return pair
        return None

    def session_id(self, name=None):
        """The 40 hex digits of the session id the answer sets, or None."""
        match = re.fullmatch(r"[\w-]+=([0-9a-f]{40})", self.cookie(name) or "")
        return match and match.group(1)


def form_field(page, name):
    """The value of the field `name` in the HTML `page`, such as a form's CSRF token."""
    return page.split(f'name="{name}" value="')[1].split('"')[0]


def method_for(path):
    """The method a recipe's page takes: POST for /reset, which changes the session (no link may do
    it), GET for the others."""
    return "POST" if path == "/reset" else "GET"


def port_of(server):
    return server if isinstance(server, int) else server.port


def request(server, path="/", method="GET", cookie=None, form=None, body=None, headers=None, timeout=10, host=None,
            lines=(), source=None):
    """One request to `server` (a port or a BackgroundServer): its Response, error statuses included.

    cookie: ``name=value``, or a list of Cookie header lines to send as they are.
    form: fields to send urlencoded, as a browser posts a form.
    lines: (name, value) header lines sent as they are, in order, after `headers` (a name may repeat).
    source: the local address to send from (another client: 127.0.0.2...).
    """
    headers = dict(headers or {})
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    connection = http.client.HTTPConnection(host or "127.0.0.1", port_of(server), timeout=timeout,
                                            source_address=(source, 0) if source else None)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for line in [cookie] if isinstance(cookie, str) else cookie or []:
            connection.putheader("Cookie", line)
        if body is not None:
            body = body.encode() if isinstance(body, str) else body
            headers.setdefault("Content-Length", str(len(body)))
        for name, value in [*headers.items(), *lines]:
            connection.putheader(name, value)
        connection.endheaders(body)
        answer = connection.getresponse()
        return Response(answer.status, answer.headers, answer.read())
    finally:
        connection.close()


def get(server, path="/", **options):
    return request(server, path, "GET", **options)


def post(server, path, form=None, **options):
    return request(server, path, "POST", form=form, **options)


def post_form(server, path, form, cookie=None, **options):
    """POST `form` to `path` as a browser posts the form of that page: the page fetched first (with
    the session `cookie`, or as a new visitor), the form's CSRF token and the session's cookie sent back."""
    page = get(server, path, cookie=cookie, **options)
    token = form_field(page.text, "csrf_token")
    return post(server, path, dict(form, csrf_token=token), cookie=cookie or page.cookie(), **options)


class Visitor:
    """One visitor: sends back the session cookie each answer sets, as a browser does."""

    def __init__(self, server, cookie_name=None):
        self.server, self.cookie_name, self.cookie = server, cookie_name, None

    @property
    def session_id(self):
        return self.cookie and self.cookie.split("=", 1)[1]

    def request(self, path, method="GET", **options):
        response = request(self.server, path, method, cookie=self.cookie, **options)
        self.cookie = response.cookie(self.cookie_name) or self.cookie
        return response

    def get(self, path="/", **options):
        return self.request(path, "GET", **options)

    def post(self, path, form=None, **options):
        return self.request(path, "POST", form=form, **options)


def counted_at_once(server, requests=40, workers=10):
    """Send `requests` overlapping GET /count with one new session's cookie; return how many counted."""
    cookie = get(server, "/count").cookie()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda _: get(server, "/count", cookie=cookie), range(requests)))
    return int(get(server, "/count", cookie=cookie).body) - 2  # minus the first and last visits
