"""What a machine can check of the French site (../shared/french-style.md): no English left in its
interface, the glossary's forbidden forms absent from its prose, and French spacing around
punctuation and guillemets. The rest (calques, one word per idea) is a native reviewer's job."""
import re

import pytest
from bs4 import BeautifulSoup

from harness import REPO
from harness.built_site import built_pages

FRENCH_PAGES = "fr/"
NBSP = "\u00a0\u202f"  # a non-breaking space, or a narrow one

# Words of an English interface that the French site must not show, attributes included.
ENGLISH_STRINGS = ["Permanent link", "Copy to Clipboard", "Copied!", "Edit this page", "Editer",
                   "web.py Sessions Cookbook", "What this page needs", "Download the recipe",
                   "Skip to content", "Page not found"]

# The style sheet's forbidden forms in prose (code spans and blocks are left out).
FORBIDDEN = {
    "« poster » un formulaire: « soumettre », « envoyer en POST »":
        re.compile(r"\bpost(?:er|é|ée|és|ées|ez|ons|ent|e|ant)\b", re.IGNORECASE),
    "« cachable » (hideable): « qui peut être mis en cache »": re.compile(r"\bcachables?\b", re.IGNORECASE),
    "bare loadhook: « le crochet `web.loadhook` »": re.compile(r"\bloadhook\b"),
    "« Editer »: « Modifier »": re.compile(r"\b[EÉ]diter\b"),
}


def french_built_pages(site):
    return [url for url in built_pages(site) if url.startswith(FRENCH_PAGES)]


def prose(html):
    """The article's text, without code: code spans and blocks, notebooks' cells of code and their
    outputs, headings' permalinks."""
    article = BeautifulSoup(html, "html.parser").select_one("article")
    for element in article.select("pre, code, script, style, .headerlink, .jp-CodeCell, .jp-OutputArea"):
        element.decompose()
    return article.get_text()


def around(text, match):
    return text[max(0, match.start() - 40):match.end() + 20].replace("\n", " ")


@pytest.fixture(scope="module")
def french(site):
    return {url: (site / url / "index.html").read_text(encoding="utf-8") for url in french_built_pages(site)}


def test_the_french_site_shows_no_english_interface(site, french):
    pages = dict(french, **{"fr/404.html": (site / "fr" / "404.html").read_text(encoding="utf-8")})
    assert len(pages) > 25
    assert {url: found for url, html in pages.items()
            if (found := [english for english in ENGLISH_STRINGS if english in html])} == {}


def test_french_prose_avoids_the_glossarys_forbidden_forms(french):
    found = [(url, rule, around(text, match)) for url, html in french.items() for text in [prose(html)]
             for rule, pattern in FORBIDDEN.items() for match in pattern.finditer(text)]
    assert found == []


def test_french_prose_spaces_punctuation_the_french_way(french):
    """A non-breaking space before ; : ! ? and inside « », never a plain one (it lets the line
    break before the sign)."""
    rules = {
        "no space before ; : ! ?": re.compile(rf"(?<=[^\s{NBSP}])[;:!?](?=[\s»)]|$)"),
        "a breaking space before ; : ! ?": re.compile(r" [;:!?]"),
        "« » without a non-breaking space": re.compile(rf"«[^{NBSP}]|[^{NBSP}]»"),
    }
    found = [(url, rule, around(text, match)) for url, html in french.items() for text in [prose(html)]
             for rule, pattern in rules.items() for match in pattern.finditer(text)]
    assert found == []


def test_french_sources_write_the_non_breaking_space_itself():
    """The character, not the entity `&nbsp;`, in French pages and notebooks."""
    sources = sorted(REPO.glob("docs/**/*.fr.md")) + sorted(REPO.glob("docs/**/*.fr.ipynb"))
    assert len(sources) > 25
    assert [source.relative_to(REPO).as_posix() for source in sources if "&nbsp;" in source.read_text(encoding="utf-8")] == []


@pytest.mark.parametrize("text, rule", [("Postez le formulaire", "poster"), ("la page cachable", "cachable"),
                                        ("un loadhook", "loadhook")])
def test_the_forbidden_forms_are_found(text, rule):
    assert any(pattern.search(text) for name, pattern in FORBIDDEN.items() if rule in name)
