"""A real browser for tests: Debian's Chromium headless shell (`chromium-headless-shell`, the build
of Chromium without its window that Playwright runs headless) driven by Playwright (never a
downloaded browser).

`open_tab(origin)` gives a fresh browser context and page that record what a reader should never
meet: console errors, uncaught exceptions, and requests to any other origin (refused, never sent).
Site tests use it on the built site; recipe tests can use it on a recipe's server.
"""
import functools
import json
import urllib.request
from pathlib import Path

import pytest

from harness.services import missing

# The full browser also runs headless, for much more processor on the same pages (see the README).
CHROMIUM = Path("/usr/bin/chromium-headless-shell")
# Headless, as root, and silent: without the background-networking flags Chromium keeps
# calling Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("data:", "blob:", "about:")


class Tab:
    """One page in its own browser context, watched."""

    def __init__(self, context, origin, search=True):
        self.context, self.origin = context, origin.rstrip("/")
        self.errors, self.external = [], []
        context.route("**/*", self._route)
        if not search:
            # Material's search worker indexes the whole site on every page: serve it no pages.
            context.route("**/search/search_index.json", self._empty_search_index)
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _route(self, route):
        url = route.request.url
        if url.startswith((self.origin + "/", *LOCAL_SCHEMES)):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    @staticmethod
    def _empty_search_index(route):
        # The site's own search settings (their shape changes with Material's versions), no pages.
        route.fulfill(json={"config": search_config(route.request.url), "docs": []})

    def _console(self, message):
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def problems(self):
        """Everything wrong seen so far: external requests first, then errors."""
        return [f"external request: {url}" for url in self.external] + self.errors

    def forget(self):
        """Start afresh: problems() then tells only what comes after."""
        self.errors, self.external = [], []


def copy(page, block):
    """What the copy button of a code block puts on the clipboard."""
    block.hover()
    block.locator("button[data-md-type=copy]").click()
    return page.evaluate("navigator.clipboard.readText()")


def switch_language(page, language):
    """Follow the header's language switch to `language`, as a reader does."""
    page.locator(".md-header__option .md-select").hover()
    page.locator(f"a.md-select__link[hreflang={language}]").click()
    page.wait_for_load_state()


@functools.cache
def search_config(index_url):
    with urllib.request.urlopen(index_url) as response:
        return json.load(response)["config"]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        missing("Chromium's headless shell", "apt-get install chromium-headless-shell")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_tab(browser):
    """open_tab(origin, search=True, **context options) -> Tab; every context is closed after the test.

    `search=False` gives the site's search an empty index: pages load as fast as the reader's
    second page, where the browser has cached it (tests that don't search use it).
    """
    contexts = []

    def open_tab(origin, search=True, **options):
        # A reader who asked for less motion: Material then skips its transitions, and a click need
        # not wait for a menu to finish sliding in.
        context = browser.new_context(**{"reduced_motion": "reduce", **options})
        context.set_default_timeout(10_000)  # a missing element fails in seconds, not half a minute
        contexts.append(context)
        return Tab(context, origin, search)

    yield open_tab
    for context in contexts:
        context.close()


@pytest.fixture
def context(browser):
    """A fresh Chromium profile: one visitor, no cookies yet."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()
