"""The harness can fail: wrong output, missing servers and drifting translations are caught."""
import re

import pytest

from harness import RECIPES, REPO, Services, front_matter, matches, page_tests, parse_transcript

DOCS = REPO / "docs"
PAGES = sorted(path for path in DOCS.rglob("*.md") if not path.name.endswith(".fr.md"))
FENCE = re.compile(r"^[ \t]*```(console|pycon)\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)


def run_page(path, services):
    document = page_tests().parse(path)
    document.namespace["services"] = services
    try:
        for example in document.examples():
            example.evaluate()
    finally:
        page_tests().teardown(document.namespace)


@pytest.mark.parametrize("page", ["count.md", "count.fr.md"])
def test_a_wrong_expected_line_fails_the_page(page, tmp_path, services):
    text = (DOCS / "basics" / page).read_text()
    wrong = text.replace("/count\n2\n", "/count\n3\n", 1)
    assert wrong != text
    (tmp_path / page).write_text(wrong)
    with pytest.raises(AssertionError, match=r"--- expected\n3\n--- got\n2\n--- server log\nhttp://0.0.0.0:\d+/\n.*GET /count"):
        run_page(tmp_path / page, services)


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(DOCS)))
def test_french_page_runs_the_same_transcripts(page):
    twin = page.with_suffix(".fr.md")
    assert twin.exists(), f"{twin.name} is missing"
    assert FENCE.findall(twin.read_text()) == FENCE.findall(page.read_text())


def test_every_recipe_has_a_page_that_shows_and_starts_it():
    pages = {front_matter(page.read_text()).get("recipe"): page.read_text() for page in PAGES}
    for recipe in RECIPES.iterdir():
        page = pages.get(recipe.name)
        assert page, f"no page has `recipe: {recipe.name}` in its front matter"
        assert f'--8<-- "recipes/{recipe.name}/app.py"' in page
        assert f"python recipes/{recipe.name}/app.py 8080\n" in page


def test_wildcard_stands_for_some_text_only():
    assert matches("id=...; Path=/", "id=0123abc; Path=/")
    assert not matches("id=...; Path=/", "id=; Path=/")
    assert not matches("1", "2")
    assert matches("1\n", "1")  # curl prints no final newline
    assert not matches("1\n2", "1")


def test_a_transcript_is_commands_and_their_output():
    assert parse_transcript("$ a \\\n  --b\nout\n$ c\n") == [("a \\\n  --b", "out"), ("c", "")]
    with pytest.raises(ValueError):
        parse_transcript("output before any command")


def test_a_missing_server_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="Redis is not installed: apt-get install"):
        Services.missing("Redis", "apt-get install redis-server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Redis is not installed"):
        Services.missing("Redis", "apt-get install redis-server")


def test_redis_and_postgres_are_real_servers(tmp_path, services):
    page = tmp_path / "servers.md"
    page.write_text("---\nservices: [postgres, redis]\n---\n\n"
                    "```console\n$ redis-cli -u \"$REDIS_URL\" ping\nPONG\n"
                    "$ psql -At -c 'select 6 * 7'\n42\n```\n")
    run_page(page, services)
