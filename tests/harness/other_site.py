"""Another site's pages, served by the test itself: the attacker of the cookie and CSRF tests.

Chromium resolves any name under `.localhost` to the loopback address itself, so a recipe on
`app.cookbook.localhost` and an attacker on `evil.cookbook.localhost` are two hosts of one site;
127.0.0.2 is another site (an IP address is a site of its own).
"""
import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APP_HOST = "app.cookbook.localhost"
SIBLING_HOST = "evil.cookbook.localhost"  # same site as APP_HOST: cookbook.localhost
OTHER_SITE = "127.0.0.2"


class OtherSite:
    """Pages another site serves: path -> (body, Set-Cookie headers), on `host` (listening on `address`)."""

    def __init__(self, host, address=None):
        pages = self.pages = {}
        received = self.cookies_received = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                received.append(self.headers.get("Cookie"))
                body, cookies = pages.get(self.path, ("not found", []))
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for cookie in cookies:
                    self.send_header("Set-Cookie", cookie)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.host = host
        self.server = ThreadingHTTPServer((address or host, 0), Handler)
        self.origin = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path, body, cookies=()):
        self.pages[path] = (body, list(cookies))
        return self.origin + path

    def link_to(self, url):
        return self.page("/link", f'<a href="{html.escape(url)}">a link</a>')

    def form_posting(self, url, **fields):
        """A page that posts a form to `url` as soon as it loads."""
        inputs = "".join(f'<input name="{name}" value="{html.escape(value)}">' for name, value in fields.items())
        return self.page("/post", f'<form method="post" action="{html.escape(url)}">{inputs}</form>'
                                  "<script>document.forms[0].submit()</script>")

    def tossing(self, cookie):
        """A page whose answer sets `cookie` (``name=value``) for the whole parent domain, as any
        host of a domain may (cookie tossing): plain, Secure, and nameless (``=name=value``, a
        cookie the browser sends as ``name=value``), so that a __Host- name is tried every way."""
        domain = self.host.split(".", 1)[1]
        return self.page("/toss", "<p>Nothing to see here.</p>",
                         [f"{cookie}; Domain={domain}; Path=/", f"{cookie}; Domain={domain}; Path=/; Secure",
                          f"={cookie}; Domain={domain}; Path=/"])

    def close(self):
        self.server.shutdown()
        self.server.server_close()
