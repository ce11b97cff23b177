"""What mkdocs.yml and the pages' front matter say, read as the harness needs it."""
import re

import yaml

from harness import REPO


class SiteConfigLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring MkDocs' own tags (!relative, !!python/name:...)."""


SiteConfigLoader.add_multi_constructor("", lambda loader, suffix, node: None)
SITE_CONFIG = yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), SiteConfigLoader)
#: Server name -> what the site says of it: {"name": ..., "variables": [...]}.
SERVICE_VARIABLES = SITE_CONFIG["extra"]["services"]


def front_matter(text):
    """The YAML header of a page, or {}."""
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    return yaml.safe_load(match.group(1)) if match else {}


def language(path):
    return "fr" if str(path).endswith(".fr.md") else "en"


#: A named section's bounds in a recipe file, for pymdownx.snippets (`--8<-- "recipes/x/app.py:NAME"`).
MARKER = re.compile(r"--8<-- \[(start|end):([\w-]+)\]")


def shown(path, section=None):
    """A recipe file as a page shows it: whole, or its named section; never the markers, which
    snippets leaves out of both (blank lines at the ends left out too)."""
    lines, inside = [], section is None
    for line in path.read_text(encoding="utf-8").splitlines():
        marker = MARKER.search(line)
        if marker and section is None:
            continue
        if marker and marker.group(2) == section:
            inside = marker.group(1) == "start"
        elif inside and not marker:
            lines.append(line)
    return "\n".join(lines).strip("\n")
