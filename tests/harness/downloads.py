"""A recipe page as its reader gets it: the page's download unzipped in an empty directory, and a
Python that has only the packages of the download's requirements.txt and what they depend on.

Pages with a recipe run there (``transcripts.Page``): a module or package the download lacks fails
the page as it would fail its reader.
"""
import functools
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from harness import REPO
from harness.site import SITE_CONFIG

_spec = importlib.util.spec_from_file_location("site_recipes_hook", REPO / "overrides" / "hooks" / "recipes.py")
SITE_HOOK = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(SITE_HOOK)

# Where the environments live until the test process ends.
ENVIRONMENTS = tempfile.TemporaryDirectory(prefix="cookbook-download-pythons-")


def english_twin(page):
    """A page's commands, hence its download, are its English twin's (the page's own without one)."""
    page = Path(page)
    twin = page.with_name(page.name.replace(".fr.md", ".md"))
    return twin if twin.exists() else page


def download(page):
    """The bytes of the page's download, as the site offers it."""
    source = english_twin(page).resolve()
    docs = REPO / "docs"
    # A test's copy of a page, outside docs/, is published nowhere: its name stands for its address.
    published = source.relative_to(docs) if source.is_relative_to(docs) else Path(source.name)
    urls = SITE_HOOK.page_urls(SITE_CONFIG["site_url"], published)
    return SITE_HOOK.page_download(REPO, source.read_text(encoding="utf-8"), urls)


def unpack_download(page, destination):
    """Unzip the page's download into destination, as its reader does (then `cd <slug>`)."""
    with zipfile.ZipFile(io.BytesIO(download(page))) as archive:
        for entry in archive.infolist():
            slug, _, name = entry.filename.partition("/")
            target = Path(destination) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(entry))
    return Path(destination)


def distributions_needed(requirement_lines):
    """The installed distributions that `pip install -r` of these lines would install: each line's
    distribution with its extras, and what they require, recursively."""
    needed, todo = {}, [Requirement(line.partition(" #")[0]) for line in requirement_lines]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        extras = needed.get(name, set())
        if name in needed and set(requirement.extras) <= extras:
            continue
        needed[name] = extras | set(requirement.extras)
        for line in metadata.distribution(name).requires or []:
            required = Requirement(line)
            if required.marker is None or any(required.marker.evaluate({"extra": extra})
                                              for extra in needed[name] | {""}):
                todo.append(required)
    return sorted(needed)


@functools.cache
def python_with_only(requirements):
    """The bin/ folder of a fresh virtual environment holding only what these requirements install
    (linked from this interpreter's, so nothing is downloaded)."""
    lines = [line for line in requirements.splitlines() if line.strip() and not line.startswith("#")]
    folder = Path(ENVIRONMENTS.name) / str(len(os.listdir(ENVIRONMENTS.name)))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site_packages = next(folder.glob("lib/python3*/site-packages"))
    for name in distributions_needed(lines):
        distribution = metadata.distribution(name)
        for top in {file.parts[0] for file in distribution.files or []} - {"..", "__pycache__"}:
            if not (site_packages / top).exists():
                (site_packages / top).symlink_to(distribution.locate_file(top))
    return folder / "bin"
