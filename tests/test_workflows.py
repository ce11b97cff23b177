"""The GitHub workflows are valid, checked offline against the workflow schema vendored by
check-jsonschema; the publish workflow installs only what the site's build needs; CI runs in a
container of this machine's Debian release, whose packages are those .ci/run installs."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from harness import REPO
from harness.services import missing

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


def os_release():
    fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    return {name: value.strip('"') for name, value in fields.items()}


def test_ci_runs_in_the_debian_release_of_this_machine():
    """CI and the weekly job run in containers of the Debian release the suite runs on here, so
    that .ci/run's package names and the tests' paths (/usr/bin/chromium-headless-shell, Debian's PostgreSQL) hold."""
    release = os_release()
    if release.get("ID") != "debian":
        missing("Debian", "run the suite on Debian, as CI does (.github/workflows/ci.yml)")
    jobs = {name: yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())["jobs"]
            for name in ("ci.yml", "weekly.yml")}
    assert jobs["ci.yml"]["test"]["container"]["image"] == f"debian:{release['VERSION_ID']}"
    assert jobs["weekly.yml"]["test"]["container"]["image"].endswith(f"-{release['VERSION_CODENAME']}")


def test_every_package_ci_installs_is_in_this_debian_release():
    if os_release().get("ID") != "debian" or not shutil.which("apt-cache"):
        missing("Debian's apt", "run the suite on Debian, as CI does (.github/workflows/ci.yml)")
    packages = sorted(set(re.findall(r"missing\+=\(([\w.+-]+)\)", (REPO / ".ci" / "run").read_text())))
    assert "chromium-headless-shell" in packages and "postgresql" in packages
    shown = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages], capture_output=True, text=True)
    assert sorted(set(packages) - set(re.findall(r"^Package: (\S+)$", shown.stdout, re.MULTILINE))) == []
