"""What `make check` runs: the tests an edit needs, from the files changed since a git revision
(`main` unless SINCE= says otherwise), committed or not, tracked or not. Prints pytest's arguments.

- A page (either language) or a file of `recipes/<slug>/`: that recipe's pages in both languages and
  `tests/test_<slug>.py`; so too for every recipe that links the file into its folder and every
  page whose commands run the recipe (its download holds it).
- A test module: itself. `bench/`: the benchmark's test. The CI files: the workflows' test.
- What the whole suite stands on (the harness, conftest.py, pytest.ini, the requirements, the
  Makefile), or a path this list does not know: everything.
- Always, because any edit can break them: the built site's tests (strict build, links, spelling,
  French typography, reading), the requirements' and the catalogue's.
"""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from harness.downloads import SITE_HOOK  # noqa: E402  (what a page's download holds)

ALWAYS = ["tests/test_site.py", "tests/test_links.py", "tests/test_spelling.py", "tests/test_french.py",
          "tests/test_reading.py", "tests/test_translations.py", "tests/test_requirements.py",
          "tests/test_catalogue.py"]
EVERYTHING = re.compile(r"^(tests/harness/|conftest\.py$|pytest\.ini$|requirements|Makefile$|tools/what_changed\.py$)")
SITE_ONLY = re.compile(r"^(overrides/|mkdocs\.yml$|spelling-words\.txt$|README\.md$|LICENSE|tools/translations\.py$|\.gitignore$)")


def changed_files(since):
    """The files changed since the revision (committed or not, tracked or not); None if git cannot say."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\n")
    try:
        base = git("merge-base", "HEAD", since)[0]
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted({path for path in git("diff", "--name-only", base) + git("ls-files", "--others", "--exclude-standard")
                   if path})


def pages_of(slug):
    return sorted(str(path.relative_to(REPO)) for path in REPO.glob(f"docs/*/{slug}.*")
                  if path.suffix in (".md", ".ipynb"))


def recipes_using(path):
    """The recipes whose folder holds this file, itself or through a link, and those whose page runs them."""
    target = (REPO / path).resolve()
    slugs = {folder.name for folder in (REPO / "recipes").iterdir() if folder.is_dir()
             and any(file.resolve() == target for file in folder.iterdir())}
    if not (REPO / path).exists():  # deleted: its own folder
        slugs.add(Path(path).parts[1])
    for page in (REPO / "docs").rglob("*.md"):
        markdown = page.read_text(encoding="utf-8")
        own = SITE_HOOK.RECIPE_PAGE.match(markdown)
        if own and not page.name.endswith(".fr.md") and slugs & set(SITE_HOOK.recipes_a_page_runs(markdown, own["slug"])):
            slugs.add(own["slug"])
    return slugs


def tests_for(path):
    """The pytest paths an edit of this file needs, or None for everything."""
    if EVERYTHING.match(path):
        return None
    if SITE_ONLY.match(path):
        return []
    if path.startswith("recipes/"):
        slugs = recipes_using(path)
    elif path.startswith("docs/") and re.search(r"\.(md|ipynb)$", path):
        meta = SITE_HOOK.RECIPE_PAGE.match((REPO / path).read_text(encoding="utf-8")) if (REPO / path).exists() else None
        slugs = {meta["slug"]} if meta else set()
        twin = re.sub(r"(\.fr)?\.(md|ipynb)$", "", path)
        return [str(page.relative_to(REPO)) for page in REPO.glob(f"{twin}.*") if page.suffix in (".md", ".ipynb")] \
            + [test for slug in slugs for test in pages_of(slug) + own_tests(slug)]
    elif path.startswith("docs/"):
        return []  # a notebook's module, an image: the built site's tests
    elif re.match(r"^tests/test_\w+\.py$", path):
        return [path]
    elif path.startswith("bench/"):
        return ["tests/test_bench.py"]
    elif path.startswith((".ci/", ".github/")):
        return ["tests/test_workflows.py"]
    else:
        return None
    return [test for slug in sorted(slugs) for test in pages_of(slug) + own_tests(slug)]


def own_tests(slug):
    test = REPO / "tests" / f"test_{slug.replace('-', '_')}.py"
    return [str(test.relative_to(REPO))] if test.exists() else []


def main(since):
    changed = changed_files(since)
    if changed is None:
        print(f"what_changed: no git revision {since!r} to compare with -> everything", file=sys.stderr)
        return
    needed = set(ALWAYS)
    for path in changed:
        tests = tests_for(path)
        if tests is None:
            print(f"what_changed: {path} -> everything", file=sys.stderr)
            return  # no argument: pytest runs every test (under make check's markers)
        needed.update(tests)
    print(" ".join(sorted(path for path in needed if (REPO / path).exists())))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "main")
