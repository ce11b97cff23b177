"""Every page of the built site in a real browser, in one pass: each English page, the language
switch to the same page in French and back, then the 404 pages. At every page, nothing asked of
another host and no error in the console."""
from built_site import built_pages, english_pages, url_of


def switch_language(page, language):
    page.locator(".md-header__option .md-select").hover()
    page.locator(f"a.md-select__link[hreflang={language}]").click()
    page.wait_for_load_state()


def test_every_page_is_clean_and_switches_language_both_ways(site, site_url, open_tab):
    tab = open_tab(site_url, search=False)
    problems, landed = {}, {}

    def seen(address):
        """What the page at this address brought, from its load to now."""
        problems[address] = tab.problems()
        tab.forget()

    for source in english_pages():
        english, french = url_of(source), "fr/" + url_of(source)
        tab.page.goto(site_url + english)
        seen(english)
        switch_language(tab.page, "fr")
        landed[english] = tab.page.url.removeprefix(site_url)
        seen(french)
        switch_language(tab.page, "en")
        landed[french] = tab.page.url.removeprefix(site_url)
    for missing in ["404.html", "fr/404.html"]:
        tab.page.goto(site_url + missing)
        seen(missing)
    assert landed == {page: page.removeprefix("fr/") if page.startswith("fr/") else "fr/" + page for page in landed}
    assert sorted(page.lstrip("/") for page in problems if not page.endswith(".html")) == [
        page.lstrip("/") for page in built_pages(site)], "a built page the pass did not visit"
    assert {address: found for address, found in problems.items() if found} == {}
