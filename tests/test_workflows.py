"""The GitHub workflows are valid, checked offline against the workflow schema vendored by
check-jsonschema, and the publish workflow installs only what the site's build needs."""
import subprocess
import sys

import yaml

from harness import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def check(*paths):
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, paths)], capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


def test_workflows_are_valid():
    assert {path.name for path in WORKFLOWS} == {"ci.yml", "weekly.yml", "pages.yml"}
    code, output = check(*WORKFLOWS)
    assert code == 0, output


def test_an_invalid_workflow_fails(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    steps:\n      - run: make test\n")  # no runs-on
    code, output = check(broken)
    assert code != 0 and "runs-on" in output, output


def test_the_publish_workflow_installs_the_site_requirements_only():
    """Building the site needs requirements/site.txt, not the test suite's requirements.txt."""
    steps = yaml.safe_load((REPO / ".github" / "workflows" / "pages.yml").read_text())["jobs"]["build"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "pip install --quiet -r requirements/site.txt" in commands
    assert " requirements.txt" not in commands and "make " not in commands, commands
