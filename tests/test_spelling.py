"""The prose of the built site is spelled right (Debian's hunspell, en_US and fr_FR, with the
project's word list for code names) and French pages follow French typography."""
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
NOT_PROSE = "code, pre, kbd, script, style, .jp-InputArea, .jp-OutputArea"
NOT_SPELLED = NOT_PROSE + ", .headerlink, .jp-InputPrompt, .jp-OutputPrompt"
URL = re.compile(r"\b\w+://\S+")
# French wants a non-breaking space (or a narrow one) before : ; ? ! and inside « ».
SPACE = "\u00a0\u202f"
MISSING_SPACE = re.compile(rf"(?:^|[^{SPACE}])[:;?!](?=\s|$)|«[^{SPACE}]|[^{SPACE}]»")


@pytest.fixture(scope="module", autouse=True)
def hunspell():
    if not shutil.which("hunspell"):
        missing("hunspell", "apt-get install hunspell hunspell-en-us hunspell-fr")


def is_french(site, page):
    return page.relative_to(site).parts[0] == "fr"


def prose(page):
    """The text of a page's article, without code, permalinks or addresses."""
    article = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("article")
    if article is None:
        return ""
    for hidden in article.select(NOT_SPELLED):
        hidden.decompose()
    return URL.sub(" ", article.get_text(" "))


def misspelled(site):
    """{page: sorted misspelled words} over the built site, each page in its language."""
    site = Path(site)
    found = {}
    for page in sorted(site.rglob("*.html")):
        language = "fr" if is_french(site, page) else "en"
        listed = subprocess.run(["hunspell", "-d", DICTIONARIES[language], "-p", WORDS, "-l"],
                                input=prose(page), capture_output=True, text=True, check=True).stdout
        if listed.split():
            found[page.relative_to(site).as_posix()] = sorted(set(listed.split()))
    return found


def typography_faults(site):
    """{French page: the prose snippets missing a non-breaking space}."""
    faults = {}
    for page in sorted(Path(site).rglob("*.html")):
        if not is_french(site, page):
            continue
        article = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("article")
        for hidden in article.select(NOT_PROSE) if article else []:
            hidden.decompose()
        for text in article.find_all(string=True) if article else []:
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
