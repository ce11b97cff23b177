"""The prose of the built site is spelled right (Debian's hunspell, en_US and fr_FR, with the
project's word list for code names) and French pages follow French typography."""
import functools
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from harness import REPO
from harness.services import missing

WORDS = str(REPO / "spelling-words.txt")  # names from code, one a line
DICTIONARIES = {"en": "en_US", "fr": "fr_FR"}
# A notebook's outputs are not prose, but for those shown as Markdown (the Performance page's sentences).
NOT_PROSE = "code, pre, kbd, script, style, .jp-InputArea, .jp-OutputArea-output:not(.jp-RenderedMarkdown)"
# A phrase marked <span lang="en"> on a French page (a quoted English title) is not French to spell.
NOT_SPELLED = NOT_PROSE + ", .headerlink, .jp-InputPrompt, .jp-OutputPrompt, [lang=en]"
URL = re.compile(r"\b\w+://\S+")
# French ordinals written as french-style.md asks (« 99ᵉ centile »): hunspell knows only « 99e ».
ORDINAL = re.compile(r"(?<!\w)\d+(?:ᵉʳ|ʳᵉ|ᵉ)(?!\w)")
# French wants a non-breaking space (or a narrow one) before : ; ? ! and inside « ».
SPACE = "\u00a0\u202f"
MISSING_SPACE = re.compile(rf"(?:^|[^{SPACE}])[:;?!](?=\s|$)|«[^{SPACE}]|[^{SPACE}]»")


@pytest.fixture(scope="module", autouse=True)
def hunspell():
    if not shutil.which("hunspell"):
        missing("hunspell", "apt-get install hunspell hunspell-en-us hunspell-fr")


def is_french(site, page):
    return page.relative_to(site).parts[0] == "fr"


@functools.cache
def article(page):
    """(the text strings of a page's article outside code, for typography; its prose, without
    code, permalinks, prompts or addresses, for spelling): one parse for both checks."""
    html = page.read_text(encoding="utf-8")
    start, end = html.find("<article"), html.rfind("</article>")  # parse the article only: half the time
    found = BeautifulSoup(html[start:end] + "</article>", "html.parser").find("article") if start >= 0 else None
    if found is None:
        return [], ""
    for hidden in found.select(NOT_PROSE):
        hidden.decompose()
    strings = [str(text) for text in found.find_all(string=True)]
    for hidden in found.select(NOT_SPELLED):
        hidden.decompose()
    return strings, ORDINAL.sub(" ", URL.sub(" ", found.get_text(" ")))


def misspelled(site):
    """{page: sorted misspelled words} over the built site, each page in its language.

    One hunspell per language lists the words it does not know in all that language's pages;
    each is then put back on the pages that have it."""
    site = Path(site)
    prose = {page: article(page)[1] for page in sorted(site.rglob("*.html"))}
    found = {}
    for language, dictionary in DICTIONARIES.items():
        pages = {page: text for page, text in prose.items() if is_french(site, page) == (language == "fr")}
        listed = subprocess.run(["hunspell", "-d", dictionary, "-p", WORDS, "-l"], input="\n".join(pages.values()),
                                capture_output=True, text=True, check=True).stdout
        for word in set(listed.split()):
            as_word = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
            having = [page.relative_to(site).as_posix() for page, text in pages.items() if as_word.search(text)]
            for page in having or [f"a {language} page"]:  # never dropped for want of a page
                found.setdefault(page, []).append(word)
    return {page: sorted(words) for page, words in found.items()}


def typography_faults(site):
    """{French page: the prose snippets missing a non-breaking space}."""
    faults = {}
    for page in sorted(Path(site).rglob("*.html")):
        if not is_french(site, page):
            continue
        for text in article(page)[0]:
            for match in MISSING_SPACE.finditer(text):
                snippet = text[max(0, match.start() - 20):match.end() + 10].strip()
                faults.setdefault(page.relative_to(site).as_posix(), []).append(snippet)
    return faults


def test_prose_is_spelled_right(site):
    assert misspelled(site) == {}


def test_french_pages_have_french_typography(site):
    assert typography_faults(site) == {}


def write_page(site, path, body):
    page = site / path
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(f"<html><body><article>{body}</article></body></html>", encoding="utf-8")


def test_a_misspelling_is_found_in_either_language_but_not_in_code(tmp_path):
    write_page(tmp_path, "index.html", "<p>A sesion in <code>sesionz</code>.</p>")
    write_page(tmp_path, "fr/index.html", "<p>Une sesion et une session.</p>")
    assert misspelled(tmp_path) == {"index.html": ["sesion"], "fr/index.html": ["sesion"]}


def test_a_plain_space_before_french_punctuation_is_found(tmp_path):
    write_page(tmp_path, "fr/index.html", "<p>Ceci\u00a0: bien. Cela : non ! «\u00a0oui\u00a0» « non »"
                                          " <code>a: b</code></p>")
    faults = typography_faults(tmp_path)["fr/index.html"]
    assert len(faults) == 4, faults  # before ":" and "!", after "«", before "»"
