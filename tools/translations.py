"""List the French pages whose English twin changed after them (`make translations`).

From git history: for each translation, the commits that touched its English twin since the
last commit that touched the translation. Uncommitted changes are not counted.
"""
import subprocess
from pathlib import Path


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def outdated(repo):
    """{translation: [commits of its English twin since it last changed]}, paths relative to repo."""
    repo = Path(repo)
    found = {}
    for twin in sorted((repo / "docs").rglob("*.fr.*")):
        original = twin.with_name(twin.name.replace(".fr.", ".", 1))
        twin, original = twin.relative_to(repo).as_posix(), original.relative_to(repo).as_posix()
        last = git(repo, "log", "-1", "--format=%H", "--", twin).strip()
        if not last:
            continue  # never committed
        commits = git(repo, "log", "--format=%h %as %s", f"{last}..HEAD", "--", original).splitlines()
        if commits:
            found[twin] = commits
    return found


if __name__ == "__main__":
    pages = outdated(Path(__file__).resolve().parents[1])
    for twin, commits in pages.items():
        print(f"{twin}: its English twin changed since, in")
        print("".join(f"  {commit}\n" for commit in commits), end="")
    print(f"{len(pages)} French page(s) to update" if pages else "Every French page is up to date.")
