"""Every page of the built site in a real browser, in one pass: each English page, the language
switch to the same page in French, and the French page's switch back (followed on the first page,
its address read on the others: a load fewer per page), then the 404 pages. At every page, nothing asked of
another host and no error in the console; on every page with transcripts, the copy buttons give
the commands."""
import textwrap

import pytest

from harness.browser import copy, switch_language
from harness.built_site import CONSOLE, built_pages, english_pages, url_of
from harness.transcripts import parse_transcript

pytestmark = pytest.mark.browser


def switch_address(page, language):
    """Where the language switch to `language` leads, without following it."""
    return page.locator(f"a.md-select__link[hreflang={language}]").evaluate("link => link.href")


def check_copy_buttons(page, source):
    """The number of clipboards read on the page after checking every console block's copy.

    Material's button copies the block's data-copy: every block's is checked, the clipboard after a
    click on the first and the last block of the page.
    """
    blocks = CONSOLE.findall(source.read_text(encoding="utf-8")) if source.suffix == ".md" else []
    rendered = page.locator(".language-console")
    assert rendered.count() == len(blocks), source
    wanted = ["\n".join(command for command, _ in parse_transcript(textwrap.dedent(block))) for block in blocks]
    assert rendered.evaluate_all("blocks => blocks.map(block => block.dataset.copy)") == wanted, source
    clicked = sorted({0, len(blocks) - 1}) if blocks else []
    for index in clicked:
        assert copy(page, rendered.nth(index)) == wanted[index], f"{source}, block {index + 1}"
    return len(clicked)


def test_every_page_is_clean_and_switches_language_both_ways(site, site_url, open_tab):
    tab = open_tab(site_url, search=False, permissions=["clipboard-read", "clipboard-write"])
    problems, landed, copied = {}, {}, {"en": 0, "fr": 0}

    def seen(address):
        """What the page at this address brought, from its load to now."""
        problems[address] = tab.problems()
        tab.forget()

    for index, source in enumerate(english_pages()):
        english, french = url_of(source), "fr/" + url_of(source)
        tab.page.goto(site_url + english)
        copied["en"] += check_copy_buttons(tab.page, source)
        seen(english)
        switch_language(tab.page, "fr")
        landed[english] = tab.page.url.removeprefix(site_url)
        copied["fr"] += check_copy_buttons(tab.page, source.with_suffix(".fr" + source.suffix))
        seen(french)
        if index == 0:  # followed once; read on the others
            switch_language(tab.page, "en")
            landed[french] = tab.page.url.removeprefix(site_url)
        else:
            landed[french] = switch_address(tab.page, "en").removeprefix(site_url)
    for missing in ["404.html", "fr/404.html"]:
        tab.page.goto(site_url + missing)
        seen(missing)
    assert landed == {page: page.removeprefix("fr/") if page.startswith("fr/") else "fr/" + page for page in landed}
    assert sorted(page.lstrip("/") for page in problems if not page.endswith(".html")) == [
        page.lstrip("/") for page in built_pages(site)], "a built page the pass did not visit"
    assert {address: found for address, found in problems.items() if found} == {}
    assert min(copied.values()) >= 20, copied
