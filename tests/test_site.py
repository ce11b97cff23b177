"""The site: `mkdocs build --strict` passes, renders notebooks in both languages, and fails
when a translation or an included recipe file is missing (shown on a small site built with the
site's own configuration)."""
import ast
import functools
import io
import json
import re
import zipfile
from urllib.parse import urljoin

import pytest
from bs4 import BeautifulSoup

from harness import REPO
from harness.built_site import I18N, build, built_pages, small_site, url_of
from harness.downloads import download
from harness.site import MARKER, SERVICE_VARIABLES, SITE_CONFIG, front_matter, language, shown

NOTEBOOK_PAGES = {"en": "basics/exploring/", "fr": "fr/basics/exploring/"}


@functools.cache
def page(site, url):
    """The built page, parsed once per run: tests read it and never change it."""
    return BeautifulSoup((site / url / "index.html").read_text(encoding="utf-8"), "html.parser")


def nav_titles(soup):
    """The site navigation's titles, leaving out the page's table of contents nested in it."""
    links = soup.select(".md-nav--primary .md-nav__link")
    return {link.get_text(" ", strip=True) for link in links
            if link.find_parent("nav", class_="md-nav--secondary") is None}


def test_strict_build_passes_in_both_languages(site):
    assert (site / "index.html").is_file()
    assert (site / "fr" / "index.html").is_file()


@pytest.mark.parametrize("language", NOTEBOOK_PAGES)
def test_notebook_pages_are_rendered_not_raw_json(site, language):
    soup = page(site, NOTEBOOK_PAGES[language])
    assert soup.select(".jupyter-wrapper .jp-CodeCell"), "no rendered notebook cell"
    assert soup.select(".jp-OutputArea-output"), "no rendered cell output"
    text = soup.get_text()  # what the reader sees: BeautifulSoup leaves out script and style elements
    assert '"cell_type"' not in text and '"nbformat"' not in text


PERFORMANCE = {"en": REPO / "docs/production/performance.ipynb", "fr": REPO / "docs/production/performance.fr.ipynb"}


def image_texts(notebook):
    """The text/plain of each image output of a notebook: its figures' alt text."""
    return ["".join(output["data"]["text/plain"]) for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]


@pytest.mark.parametrize("language", PERFORMANCE)
def test_the_performance_page_shows_tables_and_figures_with_alt_text_not_code(site, language):
    soup = page(site, url_of(PERFORMANCE[language]))
    article = soup.select_one("article")
    assert [img["alt"] for img in article.select("img")] == image_texts(PERFORMANCE[language])
    assert len(image_texts(PERFORMANCE[language])) == 2
    assert len(article.select("table")) == 3, "the results as HTML tables, not printed text"
    assert not article.select(".jp-CodeCell .jp-InputArea"), "the page shows its cells' outputs, not their code"


@pytest.mark.parametrize("language, point, comma", [("en", True, False), ("fr", False, True)])
def test_the_performance_page_writes_numbers_in_its_language(site, language, point, comma):
    """1,675 and 8.7 in English; 1 675 and 8,7 in French (outside code: a platform's name has dots)."""
    outputs = page(site, url_of(PERFORMANCE[language])).select(".jp-OutputArea .jp-RenderedMarkdown")
    text = " ".join(string for output in outputs for string in output.find_all(string=True)
                    if not string.find_parent("code"))
    decimal_comma = r"\d,\d(?!\d\d)"  # 8,7 but not 1,675
    assert bool(re.search(r"\d\.\d", text)) == point and bool(re.search(decimal_comma, text)) == comma
    assert bool(re.search(r"\d\u00a0(000|%)", text)) == (language == "fr")


def test_no_image_is_left_without_alt_text(site):
    for url in built_pages(site):
        for img in page(site, url.lstrip("/")).select("article img"):
            assert img.get("alt") and "No description has been provided" not in img["alt"], (url, img.get("src", "")[:80])


@pytest.mark.parametrize("language, other", [("en", "fr"), ("fr", "en")])
def test_notebook_language_switch_links_to_its_twin(site, language, other):
    url = NOTEBOOK_PAGES[language]
    link = page(site, url).select_one(f"a.md-select__link[hreflang={other}]")
    assert link is not None, "no language switch"
    assert urljoin("/" + url, link["href"]) == "/" + NOTEBOOK_PAGES[other]


@pytest.mark.parametrize("url, index_path, language", [("basics/count/", "search/search_index.json", "en"),
                                                     ("fr/basics/count/", "fr/search/search_index.json", "fr")])
def test_each_language_searches_an_index_of_its_own_pages(site, url, index_path, language):
    """Material fetches <base>/search/search_index.json; a page's base leads to its language's index."""
    base = json.loads(page(site, url).select_one("#__config").string)["base"]
    assert urljoin("/" + url, base + "/search/search_index.json") == "/" + index_path
    index = json.loads((site / index_path).read_text(encoding="utf-8"))
    assert index["config"]["lang"] == [language]
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    pages = {("fr/" if language == "fr" else "") + url for url in locations}
    assert pages == {page.lstrip("/") for page in built_pages(site) if page.startswith("fr/") == (language == "fr")}


def test_a_recipe_pages_search_entry_is_its_text_not_its_box(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    count = "\n".join(doc["text"] for doc in index["docs"] if doc["location"].startswith("basics/count/"))
    assert "What this page needs" not in count and "Download" not in count
    assert "Problem" in count or "visits" in count


def test_french_pages_have_french_navigation(site):
    translations = next(lang["nav_translations"] for lang in I18N["languages"] if lang["locale"] == "fr")
    english = nav_titles(page(site, "basics/count"))
    assert english <= set(translations), "English navigation titles without a French translation"
    for url in ["fr", "fr/basics/count", "fr/basics/exploring"]:
        assert nav_titles(page(site, url)) == {translations[title] for title in english}, url


#: A site of its own: a home, a page and a notebook, each with its French twin.
SMALL_SITE = {"index.md": "# Home\n", "index.fr.md": "# Accueil\n",
              "page.md": "# Page\n", "page.fr.md": "# Page\n",
              "notebook.ipynb": "# Notebook", "notebook.fr.ipynb": "# Carnet"}


def test_a_small_site_with_every_translation_builds(tmp_path):
    ok, output = build(small_site(tmp_path / "project", SMALL_SITE), tmp_path / "site")
    assert ok, output


def test_missing_translations_fail_the_strict_build(tmp_path):
    """A page and a notebook without their French twin: one build, each named."""
    missing = ["page.fr.md", "notebook.fr.ipynb"]
    pages = {path: text for path, text in SMALL_SITE.items() if path not in missing}
    ok, output = build(small_site(tmp_path / "project", pages), tmp_path / "site")
    assert not ok, output
    assert [translation for translation in missing if translation not in output] == []


def test_missing_included_recipe_file_fails_the_build(tmp_path):
    pages = dict(SMALL_SITE, **{"page.md": '# Page\n\n```python\n--8<-- "recipes/no-such-recipe/app.py"\n```\n'})
    ok, output = build(small_site(tmp_path / "project", pages), tmp_path / "site")
    assert not ok, output
    assert "recipes/no-such-recipe/app.py" in output


RECIPE_PAGES = sorted(path.relative_to(REPO / "docs") for path in (REPO / "docs").rglob("*.md")
                      if "recipe" in front_matter(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("source", RECIPE_PAGES, ids=str)
def test_a_recipe_page_says_what_it_needs_from_its_front_matter(site, source):
    meta = front_matter((REPO / "docs" / source).read_text(encoding="utf-8"))
    url = source.with_suffix("").with_suffix("").as_posix() + "/"
    url = ("fr/" if language(source) == "fr" else "") + url
    box = page(site, url).select_one(".admonition.info")
    assert box is not None, "no box under the title"
    text = box.get_text(" ")
    services = [SERVICE_VARIABLES[name] for name in meta.get("services", [])]
    for service in services:
        assert service["name"] in text
        assert all(variable in text for variable in service["variables"])
    with zipfile.ZipFile(io.BytesIO(download(REPO / "docs" / source))) as archive:
        required = archive.read(f"{meta['recipe']}/requirements.txt").decode().splitlines()
    packages = [re.match(r"[\w.-]+", line).group() for line in required if not line.startswith("web.py")]
    assert all(package in text for package in packages), packages
    assert ("nothing else" in text or "rien d'autre" in text) == (not services and not packages)
    assert box.select_one("a[download]")["href"].endswith(f"recipes/{meta['recipe']}.zip")


@pytest.mark.parametrize("source", [page for page in RECIPE_PAGES if language(page) == "en"], ids=str)
def test_a_recipe_pages_download_is_the_folder_its_transcripts_run_in(site, source):
    """The zip the site offers is the one the harness unpacks for the page (harness/downloads.py):
    the page's recipes, their requirements and a README whose start line is the page's own."""
    slug = front_matter((REPO / "docs" / source).read_text(encoding="utf-8"))["recipe"]
    offered = (site / "recipes" / f"{slug}.zip").read_bytes()
    assert offered == download(REPO / "docs" / source)
    with zipfile.ZipFile(io.BytesIO(offered)) as archive:
        names = set(archive.namelist())
        readme = archive.read(f"{slug}/README.txt").decode()
    assert {f"{slug}/recipes/{slug}/app.py", f"{slug}/requirements.txt", f"{slug}/README.txt"} <= names
    assert f"recipes/{slug}/app.py 8080" in readme.splitlines()[-1]
    assert SITE_CONFIG["site_url"] + url_of(REPO / "docs" / source) in readme


# A fenced block of included files (with its title and highlighted lines), and each file it includes.
INCLUDES = re.compile(r'^([ \t]*)(```\w[^\n]*)\n((?:[ \t]*(?:--8<-- "[^"\n]+")?\n)+?)[ \t]*```', re.MULTILINE)
INCLUDED = re.compile(r'--8<-- "(recipes/[^"\n:]+)(?::[\w-]+)?"')
LONGEST_FIRST = 40  # lines: the most a recipe page shows before its reader has met the lesson


def test_a_section_of_a_recipe_file_is_shown_without_its_markers_in_either_include(tmp_path):
    """snippets leaves a section's marker lines out of the section, and out of the whole file."""
    folder = tmp_path / "project" / "recipes" / "x"
    pages = dict(SMALL_SITE, **{"page.md": '# Page\n\n```python\n--8<-- "recipes/x/app.py:lesson"\n```\n\n'
                                           '??? example "The whole file"\n\n    ```python\n'
                                           '    --8<-- "recipes/x/app.py"\n    ```\n'})
    project = small_site(tmp_path / "project", pages)
    folder.mkdir()
    (folder / "app.py").write_text("import web\n# --8<-- [start:lesson]\nsession = 1\n# --8<-- [end:lesson]\nrun()\n")
    ok, output = build(project, tmp_path / "site")
    assert ok, output
    blocks = [code.get_text().strip("\n") for code in page(tmp_path / "site", "page").select("article pre code")]
    assert blocks == ["session = 1", "import web\nsession = 1\nrun()"]
    assert blocks == [shown(folder / "app.py", "lesson"), shown(folder / "app.py")]


@pytest.mark.parametrize("source", RECIPE_PAGES, ids=str)
def test_a_recipe_page_shows_its_lesson_first_and_every_file_it_includes_whole(site, source):
    """The Solution's first code block is short (the lines the page teaches, not a whole long
    file); every recipe file the page includes, whole or a section of it, is shown whole somewhere
    on the page; and a whole file longer than that is folded in a collapsible admonition."""
    text = (REPO / "docs" / source).read_text(encoding="utf-8")
    url = ("fr/" if language(source) == "fr" else "") + source.with_suffix("").with_suffix("").as_posix() + "/"
    soup = page(site, url)
    blocks = {code.get_text().strip("\n"): code for code in soup.select("article pre code")}
    solution = soup.select_one("article h2#solution")
    first = solution.find_next("pre")
    assert first.find_previous("h2") is solution, "no code block in the Solution"
    length = len(first.get_text().strip("\n").splitlines())
    assert length <= LONGEST_FIRST, f"the Solution opens on {length} lines of code"
    files = {path: shown(REPO / path) for path in INCLUDED.findall(text)}
    assert files, "the page includes no recipe file"
    assert sorted(path for path, code in files.items() if code not in blocks) == []
    unfolded = {path for path, code in files.items() if len(code.splitlines()) > LONGEST_FIRST
                and blocks[code].find_parent("details") is None}
    assert unfolded == set()


def test_twins_show_the_same_recipe_files_the_same_way():
    """The French page includes the same files and sections as its English twin, in the same
    order, with the same highlighted lines: only the titles of the admonitions are translated."""
    unlike = {}
    for english in (REPO / "docs").rglob("*.md"):
        if not english.name.endswith(".fr.md"):
            french = english.with_suffix(".fr.md")
            included = [INCLUDES.findall(path.read_text(encoding="utf-8")) for path in (english, french)]
            if included[0] != included[1]:
                unlike[english.name] = included
    assert unlike == {}


def test_no_section_marker_reaches_the_built_site(site):
    """A section's markers are for snippets: no page, nor the search index, shows one."""
    found = sorted(path.relative_to(site).as_posix() for path in site.rglob("*")
                   if path.suffix in (".html", ".json") and MARKER.search(path.read_text(encoding="utf-8")))
    assert found == []
    assert any(MARKER.search(path.read_text(encoding="utf-8")) for path in (REPO / "recipes").rglob("*.py"))


def modules_the_app_imports(folder):
    """The modules of a recipe's folder that its app.py imports, directly or through one another."""
    found, names = set(), ["app"]
    while names:
        path = folder / f"{names.pop()}.py"
        if path.is_file() and path.name not in found:
            found.add(path.name)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names += [alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                      for alias in node.names]
            names += [node.module.split(".")[0] for node in ast.walk(tree)
                      if isinstance(node, ast.ImportFrom) and node.module and not node.level]
    return found - {"app.py"}


COPY = re.compile(r"\b(cop(y|ies)|copi(e|ez|er)|beside)\b|à côté", re.IGNORECASE)  # what to copy, or where
WHOLE_FOLDER = re.compile(r"cp -rL recipes/|download|télécharg", re.IGNORECASE)


def partial_copy_lists(slug, markdown):
    """The sentences of a page's prose that tell which of the recipe's files to copy, or put beside
    app.py (a module borrowed from another recipe, or two modules), without naming every module
    app.py imports, nor sending the reader to the whole folder (`cp -rL`, the download link)."""
    folder = REPO / "recipes" / slug
    imported = modules_the_app_imports(folder)
    borrowed = {name for name in imported if (folder / name).is_symlink()}
    prose = re.sub(r"^( *)```.*?^\1```", "\n\n", markdown, flags=re.MULTILINE | re.DOTALL)  # code ends a sentence
    found = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n\s*\n", prose):
        named = set(re.findall(r"`([\w-]+\.py)`", sentence)) & imported
        if COPY.search(sentence) and (named & borrowed or len(named) > 1) and named != imported \
                and not WHOLE_FOLDER.search(sentence):
            found.append(" ".join(sentence.split()))
    return found


def test_a_list_of_files_to_copy_that_misses_a_module_is_found():
    """What the login page said before it sent readers to the whole folder."""
    old = "The session cookie is that of [A hardened session cookie](cookies.md) (copy `hardened_cookie.py`\n" \
          "from that page beside your `app.py`): with web.py's, another host can log the visitor in."
    assert partial_copy_lists("login", old) == [" ".join(old.split())]
    assert partial_copy_lists("login", old.replace("(copy", "(copy the folder with `cp -rL recipes/login`, or")) == []


@pytest.mark.parametrize("source", RECIPE_PAGES, ids=str)
def test_a_page_that_says_which_files_to_copy_names_every_module_its_app_imports(source):
    """A reader who copies what a sentence lists gets an application that starts, not a ModuleNotFoundError."""
    text = (REPO / "docs" / source).read_text(encoding="utf-8")
    assert partial_copy_lists(front_matter(text)["recipe"], text) == []


@pytest.mark.parametrize("url, words", [("", "Code and recipes:"), ("basics/count/", "Code and recipes:"),
                                        ("fr/", "Code et recettes\u00a0:"), ("fr/basics/count/", "Code et recettes\u00a0:")])
def test_the_footer_names_the_licences_of_the_code_and_of_the_text(site, url, words):
    footer = page(site, url).select_one(".md-copyright__highlight")
    links = [link["href"] for link in footer.select("a")]
    assert words in footer.get_text()
    assert [any(licence in link for link in links) for licence in ("publicdomain/zero/1.0", "licenses/by-sa/4.0")] \
        == [True, True]
    assert [(REPO / "LICENSES" / name).stat().st_size > 5000 for name in ("CC0-1.0.txt", "CC-BY-SA-4.0.txt")] \
        == [True, True]


REPOSITORY = SITE_CONFIG["extra"]["repository"]


@pytest.mark.parametrize("url", ["", "fr/"])
def test_the_home_page_clones_the_repository_and_the_footer_links_to_it(site, url):
    soup = page(site, url)
    clone = next(code.get_text() for code in soup.select("pre code") if "git clone" in code.get_text())
    assert clone.startswith(f"git clone {REPOSITORY}.git cookbook"), clone
    assert REPOSITORY in [link["href"] for link in soup.select(".md-social__link")]


def test_the_repositorys_address_is_the_same_everywhere():
    """One address: mkdocs.yml's extra.repository; what else names the repository names it."""
    elsewhere = {"edit_uri": SITE_CONFIG["edit_uri"], "README": (REPO / "README.md").read_text(encoding="utf-8"),
                 "footer": SITE_CONFIG["copyright"]}
    named = {where: sorted(set(re.findall(r"https://github\.com/[\w-]+/[\w-]+", text)))
             for where, text in elsewhere.items()}
    assert all(addresses == [REPOSITORY] for addresses in named.values()), named


def test_a_file_of_the_repository_named_on_a_page_links_to_it_there(site):
    """`tests/test_login.py` on a page is a link to that file in the repository, on every page."""
    named = []
    for url in built_pages(site):
        for code in page(site, url.lstrip("/")).select("article code"):
            path = code.get_text()
            if re.fullmatch(r"(tests|bench|recipes|tools)/[\w./-]+\.\w+", path) and (REPO / path).is_file():
                link = code.parent if code.parent.name == "a" else None
                named.append((url, path, link and link["href"]))
    assert len(named) > 100
    assert [(url, path, href) for url, path, href in named
            if href != f"{REPOSITORY}/blob/main/{path}"] == []
