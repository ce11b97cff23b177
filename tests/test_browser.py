"""The built site in a real browser, served from 127.0.0.1, as a reader with no network meets it:
search, colours, a phone, 404 pages, downloads, the copy of code that is not a transcript (every
page's requests, language switch and transcripts' copy buttons are in test_browser_every_page.py,
so that the two files run side by side)."""
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness import REPO
from harness.browser import copy, switch_language
from harness.built_site import ARTIFACTS, HEADINGS, HOME
from harness.downloads import download as page_download
from harness.site import shown

pytestmark = pytest.mark.browser


def test_a_request_to_another_host_is_refused_and_reported(site_url, open_tab):
    tab = open_tab(site_url)
    tab.page.goto(site_url, wait_until="networkidle")
    tab.page.evaluate("fetch('https://fonts.googleapis.com/css').catch(() => {})")
    tab.page.wait_for_timeout(200)
    assert "external request: https://fonts.googleapis.com/css" in tab.problems()


def test_copy_of_other_code_is_the_whole_code(site_url, open_tab):
    """A recipe's code copies as shown: the lines the page teaches first; then, its admonition
    opened, the whole file, without the markers of its section."""
    tab = open_tab(site_url, search=False, permissions=["clipboard-read", "clipboard-write"])
    tab.page.goto(site_url + "basics/count/")
    recipe = REPO / "recipes" / "count" / "app.py"
    blocks = tab.page.locator(".language-python")
    assert copy(tab.page, blocks.first) == shown(recipe, "session")
    tab.page.locator("article details summary").first.click()
    assert copy(tab.page, blocks.nth(1)) == shown(recipe)


def search(tab, site_url, language, query):
    """Material's search on the language's home page: the addresses of the hits, and their text.
    A query typed before the search worker has built its index may be dropped: typed again."""
    tab.page.goto(site_url + HOME[language])
    field = tab.page.locator("input.md-search__input")
    hits = tab.page.locator(".md-search-result__item > a.md-search-result__link")
    field.fill(query)
    for attempt in range(6):
        if attempt:
            field.press("End")
            field.press_sequentially(" ")
            field.press("Backspace")
        try:
            hits.first.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            continue
    return hits.evaluate_all("links => links.map(link => [link.href, link.innerText])")


@pytest.mark.parametrize("language, query", [("en", "DiskStore"), ("fr", "DiskStore"), ("en", "CSRF"),
                                             ("fr", "expiry"), ("fr", "sécurité"), ("fr", "securite")])
def test_search_finds_pages_in_the_readers_language_only(site_url, open_tab, language, query):
    """A French reader's search ignores accents: "securite" finds « sécurité »; a French page's
    previews are French text, a recipe page's is its text, not the box of what the page needs."""
    tab = open_tab(site_url)
    hits = search(tab, site_url, language, query)
    assert [href.startswith(site_url + "fr/") for href, _ in hits] == [language == "fr"] * len(hits), hits
    assert not any("What this page needs" in text or "Ce qu'il faut" in text for _, text in hits)
    tab.page.goto(hits[0][0])
    words = {"securite": "sécurité", "expiry": "expir"}.get(query, query)
    assert words.lower() in tab.page.locator("article").inner_text().lower()
    assert not tab.problems()


def test_dark_mode_toggle(site_url, open_tab):
    tab = open_tab(site_url, search=False, color_scheme="light")
    tab.page.goto(site_url)
    scheme = "document.body.getAttribute('data-md-color-scheme')"
    assert tab.page.evaluate(scheme) == "default"
    tab.page.locator("label.md-header__button[for^=__palette]:visible").click()
    assert tab.page.evaluate(scheme) == "slate"
    tab.page.locator("label.md-header__button[for^=__palette]:visible").click()
    assert tab.page.evaluate(scheme) == "default"


@pytest.mark.parametrize("language, section, title", [
    ("en", "Basics", "Counting visits"), ("fr", "Les bases", "Compter les visites")])
def test_navigation_on_a_phone(site_url, open_tab, language, section, title):
    tab = open_tab(site_url, search=False, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    tab.page.goto(site_url + HOME[language])
    tab.page.locator("label.md-header__button[for=__drawer]").click()
    tab.page.locator(".md-nav--primary label.md-nav__link", has_text=section).click()  # a panel per section
    tab.page.locator(".md-nav--primary a.md-nav__link", has_text=title).click()
    tab.page.wait_for_load_state()
    assert tab.page.url == site_url + HOME[language] + "basics/count/"
    assert not tab.problems()


@pytest.mark.parametrize("language, title", [("en", "Page not found"), ("fr", "Page introuvable")])
def test_a_missing_page_answers_in_its_language(site_url, open_tab, language, title):
    tab = open_tab(site_url, search=False)
    response = tab.page.goto(site_url + HOME[language] + "no/such/page/")
    assert response.status == 404
    assert tab.page.locator("h1").inner_text() == title
    assert tab.page.locator("html").get_attribute("lang") == language


def test_download_link_gives_the_folder_the_page_runs_in(site_url, open_tab):
    tab = open_tab(site_url, search=False, accept_downloads=True)
    tab.page.goto(site_url + "fr/basics/dbstore/")
    with tab.page.expect_download() as download:
        tab.page.locator("a[download]").click()
    assert download.value.suggested_filename == "dbstore.zip"
    assert Path(download.value.path()).read_bytes() == page_download(REPO / "docs" / "basics" / "dbstore.fr.md")
    with zipfile.ZipFile(download.value.path()) as archive:
        assert {"dbstore/recipes/dbstore/app.py", "dbstore/recipes/dbstore/schema.sql",
                "dbstore/requirements.txt", "dbstore/README.txt"} <= set(archive.namelist())


@pytest.mark.parametrize("language", HOME)
def test_screenshots(site_url, open_tab, language):
    """Home and a recipe page as a reader sees them, kept in test-artifacts/ for a human to look at:
    their title shown in the first screen, nothing wrong on the way."""
    ARTIFACTS.mkdir(exist_ok=True)
    tab = open_tab(site_url, viewport={"width": 1280, "height": 900})
    for name, url in [("home", ""), ("count", "basics/count/")]:
        tab.page.goto(site_url + HOME[language] + url, wait_until="networkidle")
        title = tab.page.locator("article h1").bounding_box()
        assert title and 0 <= title["y"] < 900, (name, title)
        tab.page.screenshot(path=ARTIFACTS / f"{name}.{language}.png", full_page=True)
    assert tab.problems() == []


def heading_ids(tab):
    return tab.page.locator(HEADINGS).evaluate_all("headings => headings.map(heading => heading.id)")


def in_view(tab, heading_id):
    """Whether the heading is in the window, below the header."""
    return tab.page.evaluate("""id => {
        const top = document.getElementById(id).getBoundingClientRect().top;
        return top >= document.querySelector(".md-header").offsetHeight && top < innerHeight;
    }""", heading_id)


@pytest.mark.parametrize("english, french", [("basics/count/", "fr/basics/count/"),
                                             ("production/performance/", "fr/production/performance/")])
def test_the_language_switch_keeps_the_section(site_url, open_tab, english, french):
    """On page#section, the switch lands on the twin page at its heading of the same position (the
    ids differ: slugs of translated titles), both ways; from an anchor that is not a heading, or to a
    position the twin lacks, at the top."""
    tab = open_tab(site_url, search=False, viewport={"width": 1280, "height": 900})
    tab.page.goto(site_url + french)
    french_ids = heading_ids(tab)
    tab.page.goto(site_url + english)
    english_ids = heading_ids(tab)
    # Deep in the page: the last heading whose id differs from its twin's.
    position = max(index for index, (one, other) in enumerate(zip(english_ids, french_ids)) if one != other)
    assert position >= 3, english_ids
    tab.page.goto(f"{site_url}{english}#{english_ids[position]}")
    switch_language(tab.page, "fr")
    assert tab.page.url == f"{site_url}{french}#{french_ids[position]}"
    assert in_view(tab, french_ids[position]) and tab.page.evaluate("scrollY") > 0
    tab.page.evaluate("id => { location.hash = id }", french_ids[1])  # the reader follows the table of contents
    switch_language(tab.page, "en")
    assert tab.page.url == f"{site_url}{english}#{english_ids[1]}"
    assert in_view(tab, english_ids[1])
    tab.page.goto(f"{site_url}{english}#no-such-heading")
    switch_language(tab.page, "fr")
    assert tab.page.url == site_url + french
    tab.page.goto(site_url + english)
    tab.page.goto(f"{site_url}{french}#twin-heading-{len(french_ids)}")  # a position the page lacks: the top
    assert tab.page.url == site_url + french
    assert tab.page.evaluate("scrollY") == 0
    assert tab.problems() == []
