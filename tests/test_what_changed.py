"""`make check` runs what an edit needs (tools/what_changed.py): a file changed -> the tests it needs."""
import what_changed



def test_a_page_needs_both_twins_and_its_recipes_tests():
    assert {"docs/basics/count.md", "docs/basics/count.fr.md", "tests/test_count.py"} <= set(what_changed.tests_for("docs/basics/count.fr.md"))


def test_a_recipe_file_needs_the_pages_that_run_it_and_every_recipe_that_links_it():
    count = set(what_changed.tests_for("recipes/count/app.py"))
    assert {"docs/basics/count.md", "docs/basics/count.fr.md", "tests/test_count.py"} <= count
    assert {"docs/reliability/locking.md", "docs/everyday/cart.fr.md"} <= count  # their commands run recipes/count/
    assert "docs/security/login.md" not in count
    login = set(what_changed.tests_for("recipes/login/logins.py"))  # linked into expiry, csrf, flash, together
    assert {"tests/test_login.py", "tests/test_expiry.py", "docs/security/csrf.fr.md", "docs/production/together.md"} <= login


def test_the_harness_and_unknown_files_need_everything_and_the_sites_files_its_tests_only():
    assert what_changed.tests_for("tests/harness/transcripts.py") is None
    assert what_changed.tests_for("pytest.ini") is None
    assert what_changed.tests_for("somewhere/new.txt") is None
    assert what_changed.tests_for("overrides/hooks/recipes.py") == []
    assert what_changed.tests_for("tests/test_cart.py") == ["tests/test_cart.py"]
    assert {"tests/test_site.py", "tests/test_links.py", "tests/test_spelling.py"} <= set(what_changed.ALWAYS)
