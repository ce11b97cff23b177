"""`make translations` lists a French page whose English twin changed after it, and only then."""
import subprocess

from harness import REPO
from translations import outdated


def commit(repo, path, text, message):
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    for command in [["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message]]:
        subprocess.run(["git", *command], cwd=repo, check=True)


def test_a_translation_older_than_its_twin_is_listed(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    commit(tmp_path, "docs/a.md", "one", "both pages")
    commit(tmp_path, "docs/a.fr.md", "un", "traduction")
    assert outdated(tmp_path) == {}
    commit(tmp_path, "docs/a.md", "two", "English changed")
    [line] = outdated(tmp_path)["docs/a.fr.md"]
    assert line.endswith("English changed")
    commit(tmp_path, "docs/a.fr.md", "deux", "French follows")
    assert outdated(tmp_path) == {}


def test_make_translations_runs():
    result = subprocess.run(["make", "--no-print-directory", "translations"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout or "to update" in result.stdout
