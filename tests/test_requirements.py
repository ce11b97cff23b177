"""The dependencies are stated once and all used: requirements.in and requirements/site.in name the
direct ones, `make requirements` pins them with what they need in requirements.txt and
requirements/site.txt, and nothing is pinned there that nothing here imports or runs."""
import ast
import functools
import json
import re
import sys
from importlib import metadata

import pytest

from harness import REPO

SITE_IN, SITE_TXT = REPO / "requirements" / "site.in", REPO / "requirements" / "site.txt"
ALL_IN, ALL_TXT = REPO / "requirements.in", REPO / "requirements.txt"

#: Direct dependencies that no code imports: where the cookbook uses them instead (file, text in it).
USED_WITHOUT_IMPORT = {
    "mkdocs-material": ("mkdocs.yml", "name: material"),
    "mkdocs-jupyter": ("mkdocs.yml", "- mkdocs-jupyter"),
    "pymdown-extensions": ("mkdocs.yml", "- pymdownx."),
    "pytest-xdist": ("pytest.ini", "--dist loadfile"),
    "nbval": ("pytest.ini", "--nbval"),
    "check-jsonschema": ("tests/test_workflows.py", '"check_jsonschema"'),
    "nbconvert": ("Makefile", "jupyter nbconvert"),
}


def normalized(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def direct(path):
    """name -> the version it is pinned to in a .in file (None when it is not), that file's own lines only."""
    names = {}
    for line in path.read_text().splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        if line and not line.startswith("-"):
            name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line).group()
            pinned = re.search(r"==\s*([^\s;,]+)", line)
            names[normalized(name)] = pinned.group(1) if pinned else None
    return names


def pins(path):
    """(name, environment marker) -> version, from a compiled file."""
    found = {}
    for line in path.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            requirement, _, marker = line.partition(";")
            name, version = requirement.split("==")
            found[normalized(name.strip()), marker.strip()] = version.strip()
    return found


def python_files():
    """The cookbook's own Python files: recipes, tests, bench, tools, the site's hooks, the notebooks'
    modules (docs/), conftest.py."""
    return [REPO / "conftest.py"] + [path for folder in ["recipes", "tests", "bench", "tools", "overrides", "docs"]
                                     for path in sorted((REPO / folder).rglob("*.py"))]


def code_sources():
    """(where, Python source) of everything that runs here: the Python files, the notebooks' cells
    and the pages' doctest lines."""
    for path in python_files():
        yield path.relative_to(REPO), path.read_text()
    for notebook in sorted((REPO / "docs").rglob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] == "code":
                yield notebook.relative_to(REPO), "".join(cell["source"])
    for page in sorted((REPO / "docs").rglob("*.md")):
        yield page.relative_to(REPO), "\n".join(re.findall(r"^>>> ((?:import|from) .*)$", page.read_text(), re.M))


@functools.cache
def imports_of(source):
    """The top-level modules a Python source imports (relative imports left out)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        found.update(name.split(".")[0] for name in names)
    return found


def imported_modules():
    """Top-level module -> where it is imported."""
    modules = {}
    for where, source in code_sources():
        for name in imports_of(source):
            modules.setdefault(name, set()).add(str(where))
    return modules


def local_modules():
    """The cookbook's own modules and packages."""
    paths = python_files()
    return {path.stem for path in paths} | {path.parent.name for path in paths if path.name == "__init__.py"}


@functools.cache
def distributions_of():
    """Top-level module -> the normalized names of the installed distributions that provide it."""
    return {module: {normalized(name) for name in names} for module, names in metadata.packages_distributions().items()}


def test_the_full_requirements_pin_every_package_of_the_site_at_the_same_version():
    """(A package the site needs on some platforms only may be needed everywhere by the tests.)"""
    site = pins(SITE_TXT)
    everywhere = {(name, version) for (name, _), version in pins(ALL_TXT).items()}
    assert site, SITE_TXT
    assert {name: version for (name, _), version in site.items() if (name, version) not in everywhere} == {}


def test_every_direct_dependency_is_pinned_as_stated():
    """A line added to a .in file without `make requirements` fails here."""
    for stated, compiled in [(SITE_IN, SITE_TXT), (ALL_IN, ALL_TXT)]:
        pinned = {name: version for (name, _), version in pins(compiled).items()}
        for name, version in direct(stated).items():
            assert name in pinned, f"{name} of {stated.name} is not in {compiled.name}: run make requirements"
            assert version in (None, pinned[name]), f"{name}: {stated.name} says {version}, {compiled.name} {pinned[name]}"


def test_every_direct_dependency_is_used():
    """Nothing is stated that nothing imports or runs (what is no longer used leaves the .in files)."""
    imported = set(imported_modules())
    modules_of = {}
    for module, distributions in distributions_of().items():
        for distribution in distributions:
            modules_of.setdefault(distribution, set()).add(module)
    unused = []
    for name in {**direct(SITE_IN), **direct(ALL_IN)}:
        if name in USED_WITHOUT_IMPORT:
            file, text = USED_WITHOUT_IMPORT[name]
            if text not in (REPO / file).read_text():
                unused.append(f"{name}: {file} no longer says {text!r}")
        elif not modules_of.get(name, set()) & imported:
            unused.append(f"{name}: nothing imports {sorted(modules_of.get(name, [])) or 'it'}")
    assert unused == []


def test_every_imported_package_is_a_direct_dependency():
    """What the cookbook imports is stated, not reached through another package's requirements."""
    stated = set(direct(SITE_IN)) | set(direct(ALL_IN))
    own = local_modules() | set(sys.stdlib_module_names)
    unstated = {module: sorted(where) for module, where in imported_modules().items()
                if module not in own and not distributions_of().get(module, set()) & stated}
    assert unstated == {}


RECIPE_FOLDERS = sorted(path for path in (REPO / "recipes").iterdir() if path.is_dir())


def imported_by(folder):
    """Top-level module -> the files of a recipe's folder that import it, what the folder and the
    standard library provide left out."""
    own = {path.stem for path in folder.glob("*.py")} | set(sys.stdlib_module_names)
    modules = {}
    for path in sorted(folder.glob("*.py")):
        for name in imports_of(path.read_text(encoding="utf-8")) - own:
            modules.setdefault(name, set()).add(path.name)
    return modules


@pytest.mark.parametrize("folder", RECIPE_FOLDERS, ids=lambda folder: folder.name)
def test_a_recipes_requirements_name_what_it_imports_pinned_as_the_cookbook_pins_them(folder):
    """recipes/<slug>/requirements.txt goes into the page's download: each package the recipe's files
    import is there, at requirements.txt's version, and a package nothing imports says why."""
    stated = folder / "requirements.txt"
    assert stated.is_file(), f"{stated.relative_to(REPO)}: name the packages the recipe imports, pinned as requirements.txt pins them"
    lines = {normalized(re.match(r"[A-Za-z0-9][\w.-]*", line).group()): line
             for line in stated.read_text().splitlines() if line.strip() and not line.startswith("#")}
    unstated = {module: sorted(files) for module, files in imported_by(folder).items()
                if not distributions_of().get(module, set()) & set(lines)}
    assert unstated == {}, f"{stated.relative_to(REPO)}: add the packages of these modules"
    imported = {name for module in imported_by(folder) for name in distributions_of().get(module, set())}
    unexplained = [line for name, line in lines.items() if name not in imported and " # " not in line]
    assert unexplained == [], f"{stated.relative_to(REPO)}: nothing imports these; remove them, or say why in a comment"
    pinned = {name: version for (name, _), version in pins(ALL_TXT).items()}
    drifted = {name: version for name, version in direct(stated).items() if version != pinned.get(name)}
    assert drifted == {}, f"{stated.relative_to(REPO)}: pin these as requirements.txt does"
