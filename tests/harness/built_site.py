"""The built site, shared by the site, link, spelling and browser tests.

`site` builds it once per run with `mkdocs build --strict`; `site_url` serves it from 127.0.0.1
as the static host named by `site_url` in mkdocs.yml does (under the same path, which the 404
pages' links need), with each language's 404 page for a missing path under that language.
"""
import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness import REPO
from harness.site import SITE_CONFIG as CONFIG

ARTIFACTS = REPO / "test-artifacts"  # screenshots and the like: kept after the run, not committed


I18N = next(plugin["i18n"] for plugin in CONFIG["plugins"] if "i18n" in plugin)
LANGUAGES = [language["locale"] for language in I18N["languages"]]  # the default one first
SITE_PATH = urlsplit(CONFIG["site_url"]).path  # e.g. /sessions-cookbook/


def build(project, site_dir):
    """`mkdocs build --strict` of the project in project/: (ok, output)."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=project, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), timeout=300,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8", errors="replace")
    return result.returncode == 0, result.stdout


def small_site(destination, pages):
    """A project in destination/ that builds with the site's own mkdocs.yml (its plugins, hooks,
    theme and validation), inherited, on these pages only: {path under docs/: text}. Each is in
    the nav, by its path; a notebook's text is its one Markdown cell."""
    shutil.copytree(REPO / "overrides", destination / "overrides", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "mkdocs.yml", destination / "site.yml")
    (destination / "recipes").mkdir()  # the site's config watches it and includes from it
    nav = "".join(f"  - {path}\n" for path in pages if not re.search(r"\.fr\.(md|ipynb)$", path))
    (destination / "mkdocs.yml").write_text(f"INHERIT: site.yml\nnav:\n{nav}", encoding="utf-8")
    for path, text in pages.items():
        if path.endswith(".ipynb"):
            cell = {"cell_type": "markdown", "id": "text", "metadata": {}, "source": [text]}
            text = json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
        (destination / "docs" / path).parent.mkdir(parents=True, exist_ok=True)
        (destination / "docs" / path).write_text(text, encoding="utf-8")
    return destination


@pytest.fixture(scope="session")
def site(tmp_path_factory, worker_id):
    """Built once per run: under pytest-xdist the first worker to need it builds it for all."""
    run_dir = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        run_dir = run_dir.parent  # shared by this run's workers, and by them alone
    site_dir = run_dir / "site"
    with open(run_dir / "site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait for the build, then read it
        if not (run_dir / "site.built").exists():
            ok, output = build(REPO, site_dir)
            if not ok:
                pytest.fail(f"mkdocs build --strict failed:\n{output}", pytrace=False)
            (run_dir / "site.built").touch()
    return site_dir


class QuietServer(ThreadingHTTPServer):
    """A browser may drop a connection it no longer needs (a page left mid-load): not an error."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class StaticHost(SimpleHTTPRequestHandler):
    """A static host: files as they are, and the 404 page of the language a missing path is in."""

    def translate_path(self, path):
        if not path.startswith(SITE_PATH):
            return str(Path(self.directory) / "no such file")
        return super().translate_path("/" + path.removeprefix(SITE_PATH))

    def send_error(self, code, message=None, explain=None):
        if code != 404:
            return super().send_error(code, message, explain)
        language = self.path.removeprefix(SITE_PATH).split("/")[0]
        page = Path(self.directory) / (language if language in LANGUAGES[1:] else "") / "404.html"
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # the browser tests report what went wrong; a line per request would drown it


@pytest.fixture(scope="session")
def site_url(site):
    """The built site served on 127.0.0.1 (and nowhere else): its address, ending in /."""
    server = QuietServer(("127.0.0.1", 0), functools.partial(StaticHost, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}{SITE_PATH}"
    server.shutdown()
    server.server_close()


DOCS = REPO / "docs"
CONSOLE = re.compile(r'^[ \t]*```console(?:[ \t]+title="[^"\n]*")?[ \t]*\n(.*?)^[ \t]*```', re.MULTILINE | re.DOTALL)
HOME = {"en": "", "fr": "fr/"}
# A page's headings, in order: the language switch maps them by position to its twin's
# (overrides/assets/javascripts/language-switch.js selects the same).
HEADINGS = "article :is(h1, h2, h3, h4, h5, h6)[id]"


def url_of(source):
    """docs/basics/count.fr.md -> fr/basics/count/ (the page's address under the site)."""
    path = source.relative_to(DOCS).as_posix()
    language = "fr/" if re.search(r"\.fr\.(md|ipynb)$", path) else ""
    path = re.sub(r"(\.fr)?\.(md|ipynb)$", "/", path).removesuffix("index/")
    return language + path


def english_pages():
    return sorted(path for path in DOCS.rglob("*") if re.search(r"(?<!\.fr)\.(md|ipynb)$", path.name))


def built_pages(site):
    return sorted(path.relative_to(site).parent.as_posix().removeprefix(".") + "/"
                  for path in site.rglob("index.html"))
