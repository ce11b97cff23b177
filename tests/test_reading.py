"""What a reader meets on every built page, in both languages: copy buttons that give what runs."""
import functools
import re

import pytest
from bs4 import BeautifulSoup

from harness.built_site import CONSOLE, DOCS, HEADINGS, built_pages
from harness.transcripts import START_LINE


@functools.cache
def pages(site):
    """{address: parsed page} for every page of the built site, parsed once for this file's tests
    (which only read them)."""
    return {url: BeautifulSoup((site / url.lstrip("/") / "index.html").read_text(encoding="utf-8"), "html.parser")
            for url in built_pages(site)}


def commands(copy):
    """The commands of a block's copy text, a line ending in `\\` continuing the command, as in bash."""
    found = []
    for line in copy.split("\n"):
        if found and found[-1].endswith("\\"):
            found[-1] += "\n" + line
        else:
            found.append(line)
    return [command for command in found if command]


def stuck_behind_a_server(copy):
    """The commands a paste of this copy text never runs: those after a server start (which runs
    in the foreground until stopped)."""
    listed = commands(copy)
    starts = [index for index, command in enumerate(listed) if START_LINE.fullmatch(command)]
    return listed[starts[0] + 1:] if starts else []


def test_a_command_after_a_server_start_is_stuck_behind_it():
    assert stuck_behind_a_server("python recipes/count/app.py 8080\ncurl http://127.0.0.1:8080/count") \
        == ["curl http://127.0.0.1:8080/count"]
    assert stuck_behind_a_server("SESSION_STORE=memory python plain/app.py 8080\ncurl \\\n  -s x") == ["curl \\\n  -s x"]
    assert stuck_behind_a_server("cp -r recipes/count lost\npython lost/app.py 8080") == []


TITLES = {  # the terminal a block runs in; a server started where one already runs says to stop it
    "en": {"start": r"Terminal \d: the (server|server on port 808\d|client)",
           "restart": r"Terminal \d: stop the (running server|server on port 808\d) \(Ctrl\+C\), then start this one"},
    "fr": {"start": r"Terminal \d\u00a0: le (serveur|serveur du port 808\d|client)",
           "restart": r"Terminal \d\u00a0: arrêtez le serveur (en cours|du port 808\d) \(Ctrl\+C\), puis lancez celui-ci"},
}


def test_every_copy_button_gives_commands_that_all_run(site):
    """On every page in both languages, a server start is the last command of its block's copy
    text, and the block is titled for the terminal it runs in; on a page that starts a server,
    every block says its terminal (in the page's language), and a block that starts a server on a
    port where the page already started one says to stop that one first: the commands work in the
    order shown, in one terminal per server and one for the client."""
    stuck, untitled, checked = {}, {}, 0
    for url, soup in pages(site).items():
        blocks = soup.select(".language-console")
        starts_a_server = any(START_LINE.fullmatch(command) for block in blocks for command in commands(block["data-copy"]))
        titles, ports = TITLES["fr" if url.startswith("fr/") else "en"], set()
        for index, block in enumerate(blocks, 1):
            checked += 1
            if stuck_behind_a_server(block["data-copy"]):
                stuck[f"{url} block {index}"] = block["data-copy"]
            started = [start["port"] for command in commands(block["data-copy"])
                       for start in [START_LINE.fullmatch(command)] if start]
            expected = titles["restart" if started and started[0] in ports else "start"]
            ports.update(started)
            title = block.select_one(".filename")
            if starts_a_server and (title is None or not re.fullmatch(expected, title.get_text())):
                untitled[f"{url} block {index}"] = title and title.get_text()
    assert stuck == {}
    assert untitled == {}
    assert checked == 2 * sum(len(CONSOLE.findall(page.read_text(encoding="utf-8"))) for page in DOCS.rglob("*.md")
                              if not page.name.endswith(".fr.md"))


FENCE_LINE = re.compile(r"^[ \t]*```console.*$", re.MULTILINE)


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda page: str(page.relative_to(DOCS)))
def test_every_console_block_is_one_the_harness_runs(page):
    """A `console` fence with anything but a title after it would be neither run nor checked."""
    text = page.read_text(encoding="utf-8")
    assert len(FENCE_LINE.findall(text)) == len(CONSOLE.findall(text)), FENCE_LINE.findall(text)


def twins(site):
    """(English address, French address, English page, French page) for every page of the built site."""
    built = pages(site)
    return [(url, "fr/" + url.lstrip("/"), soup, built["fr/" + url.lstrip("/")])
            for url, soup in built.items() if not url.startswith("fr/")]


def admonitions(soup):
    """The kinds of the page's admonitions, in order (`info` is the box of what a recipe page needs)."""
    return [next(kind for kind in box["class"] if kind != "admonition") for box in soup.select("article .admonition")]


#: Where a page warns of something unsafe, the kind of admonition it does it in (twins alike).
WARNINGS = {"production/json-store/": "danger", "security/login/": "danger", "security/hardening/": "warning"}


def test_warnings_are_admonitions_and_before_production_is_one(site):
    """Every "Before production" section is one warning admonition, the whole section; the pages
    that warn of something unsafe do it in an admonition; French twins have the same ones."""
    sections, not_one, unlike, missing = 0, {}, {}, {}
    for english, french, soup, twin in twins(site):
        for url, page in [(english, soup), (french, twin)]:
            heading = page.select_one("article h2#before-production")
            if heading:
                sections += 1
                after = [element.name + "." + ".".join(element.get("class", [])) for element in heading.find_next_siblings()]
                if after != ["div.admonition.warning"]:
                    not_one[url] = after
        if admonitions(soup) != admonitions(twin):
            unlike[english] = (admonitions(soup), admonitions(twin))
        if english in WARNINGS and WARNINGS[english] not in admonitions(soup):
            missing[english] = admonitions(soup)
    assert (not_one, unlike, missing) == ({}, {}, {})
    assert sections == 2 * sum("\n## Before production\n" in page.read_text(encoding="utf-8")
                               for page in DOCS.rglob("*.md") if not page.name.endswith(".fr.md"))


def test_twins_have_the_same_headings_in_the_same_order(site):
    """The language switch maps the n-th heading of a page to the n-th of its twin: their levels
    must be the same, in the same order (a title first)."""
    unlike = {}
    for english, french, soup, twin in twins(site):
        levels = [[heading.name for heading in page.select(HEADINGS)] for page in (soup, twin)]
        if levels[0] != levels[1] or levels[0][:1] != ["h1"]:
            unlike[english] = levels
    assert unlike == {}
