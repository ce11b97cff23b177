"""Every page of the built site in a real browser: nothing asked of another host, no error in the
console, and the language switch leading to the same page in the other language and back."""
from built_site import built_pages, english_pages, url_of


def test_no_page_requests_another_host_or_logs_an_error(site, site_url, open_tab):
    urls = [*built_pages(site), "404.html", "fr/404.html"]
    seen = {}
    # Eight tabs at a time, each in a context of its own: their waits for a quiet network overlap.
    for start in range(0, len(urls), 8):
        batch = {url: open_tab(site_url, search=False) for url in urls[start:start + 8]}
        for url, tab in batch.items():
            tab.page.goto(site_url + url.lstrip("/"), wait_until="commit")
        for url, tab in batch.items():
            tab.page.wait_for_load_state("networkidle")
            seen[url] = tab.problems()
            tab.context.close()
    assert len(seen) >= 12
    assert {url: problems for url, problems in seen.items() if problems} == {}


def switch_language(page, language):
    page.locator(".md-header__option .md-select").hover()
    page.locator(f"a.md-select__link[hreflang={language}]").click()
    page.wait_for_load_state()


def test_language_switch_keeps_the_page(site_url, open_tab):
    tab = open_tab(site_url, search=False)
    for source in english_pages():
        english = site_url + url_of(source)
        tab.page.goto(english)
        switch_language(tab.page, "fr")
        assert tab.page.url == site_url + "fr/" + url_of(source)
        switch_language(tab.page, "en")
        assert tab.page.url == english
    assert not tab.problems()
