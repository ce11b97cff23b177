"""Recipe pages: what the page needs, from its front matter, and its recipe to download.

A page's `services:` names servers described in `extra.services` of mkdocs.yml (the same
description the test suite uses to reach them); `recipe:` names its recipe, whose `app.py` is
copied into the site as it is.
"""
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

WORDS = {
    "en": {"title": "What this page needs", "base": "Python, web.py and curl",
           "alone": ", nothing else", "server": "{name}, reached through {variables}",
           "and": "and", "download": "Download"},
    "fr": {"title": "Ce qu'il faut pour cette page", "base": "Python, web.py et curl",
           "alone": ", rien d'autre", "server": "{name}, joint par {variables}",
           "and": "et", "download": "Télécharger"},
}


def on_files(files, config):
    recipes = Path(config.config_file_path).parent / "recipes"
    for app in sorted(recipes.glob("*/app.py")):
        uri = app.relative_to(recipes.parent).as_posix()
        # Included although `exclude_docs` leaves out the *.py of docs/.
        files.append(File(uri, str(recipes.parent), config.site_dir, config.use_directory_urls,
                          inclusion=InclusionLevel.INCLUDED))
    return files


def listing(items, conjunction):
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def needs_box(page, config):
    """The admonition saying what the page needs, in the page's language."""
    words = WORDS[getattr(page.file, "locale", "en")]
    services = [config.extra["services"][name] for name in page.meta.get("services", [])]
    lines = [f'!!! info "{words["title"]}"', ""]
    lines.append(f"    - {words['base']}{'' if services else words['alone']}")
    for service in services:
        if not service["variables"]:  # started by the page itself, like nginx
            lines.append(f"    - {service['name']}")
            continue
        variables = listing([f"`{variable}`" for variable in service["variables"]], words["and"])
        lines.append("    - " + words["server"].format(name=service["name"], variables=variables))
    if "recipe" in page.meta:
        app = f"recipes/{page.meta['recipe']}/app.py"
        up = "../" * page.file.src_uri.count("/")
        lines += ["", f"    [{words['download']} `{app}`]({up}{app}){{ download }}"]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown, page, config, files):
    """Put the box under the page's title."""
    if "recipe" not in page.meta and "services" not in page.meta:
        return markdown
    title, _, rest = markdown.partition("\n")
    return f"{title}\n\n{needs_box(page, config)}\n{rest}"
