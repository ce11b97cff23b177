"""Every internal link and anchor of the built site leads somewhere (external ones are not followed)."""
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from bs4 import BeautifulSoup

from harness.built_site import SITE_PATH

LINKS = {"a": "href", "link": "href", "script": "src", "img": "src"}


def broken_links(site):
    """(page, link) for each link of the built site that leads to no file or no anchor."""
    site = Path(site)

    @cache
    def parsed(path):
        """(its links, its anchors): each page read once."""
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        links = [element[attribute] for tag, attribute in LINKS.items()
                 for element in soup.find_all(tag, attrs={attribute: True})]
        anchors = ({tag["id"] for tag in soup.find_all(id=True)}
                   | {tag["name"] for tag in soup.find_all("a", attrs={"name": True})})
        return links, anchors

    broken = []
    for page in sorted(site.rglob("*.html")):
        address = SITE_PATH + page.relative_to(site).as_posix()
        for link in parsed(page)[0]:
            url = urlsplit(urljoin(address, link))
            if url.scheme or url.netloc or not link:
                continue  # another site, or mailto: and the like
            if not url.path.startswith(SITE_PATH):
                broken.append((address, link))
                continue
            target = site / unquote(url.path.removeprefix(SITE_PATH))
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or (url.fragment and target.suffix == ".html"
                                        and unquote(url.fragment) not in parsed(target)[1]):
                broken.append((address, link))
    return broken


def test_internal_links_and_anchors_lead_somewhere(site):
    assert broken_links(site) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "index.html").write_text(
        '<h2 id="here">Here</h2><a href="#here">ok</a> <a href="../other/">missing page</a>'
        ' <a href="./#nowhere">missing anchor</a> <a href="https://example.org/">not followed</a>')
    assert broken_links(tmp_path) == [(f"{SITE_PATH}page/index.html", "../other/"),
                                      (f"{SITE_PATH}page/index.html", "./#nowhere")]
