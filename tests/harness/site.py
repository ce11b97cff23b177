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
