"""Recipe pages: what the page needs, from its front matter, and its recipe to download.

A page's `services:` names servers described in `extra.services` of mkdocs.yml (the same
description the test suite uses to reach them); `recipe:` names its recipe, whose folder is
offered as a zip (links followed: a module a recipe borrows from another is in it), ready to run.
"""
import io
import tempfile
import zipfile
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

WORDS = {
    "en": {"title": "What this page needs", "base": "Python, web.py and curl",
           "alone": ", nothing else", "server": "{name}, reached through {variables}",
           "and": "and", "download": "Download the recipe's folder"},
    "fr": {"title": "Ce qu'il faut pour cette page", "base": "Python, web.py et curl",
           "alone": ", rien d'autre", "server": "{name}, accessible via {variables}",
           "and": "et", "download": "Télécharger le dossier de la recette"},
}


ZIPS = tempfile.TemporaryDirectory(prefix="cookbook-recipe-zips-")  # removed when the build's process ends

# What running a recipe leaves in its folder, never part of it.
LEFT_BY_RUNS = {"__pycache__", "sessions", ".pytest_cache"}


def recipe_files(folder):
    """The files of a recipe's folder, sorted, what its runs leave out."""
    return sorted(path for path in folder.rglob("*")
                  if path.is_file() and not LEFT_BY_RUNS & set(path.relative_to(folder).parts)
                  and path.suffix not in (".pyc", ".log", ".db") and not path.name.startswith("sessions."))


def recipe_zip(folder):
    """The folder as a zip of <slug>/..., the same bytes for the same files (dates fixed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in recipe_files(folder):
            entry = zipfile.ZipInfo(f"{folder.name}/{path.relative_to(folder).as_posix()}", (1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def on_files(files, config):
    recipes = Path(config.config_file_path).parent / "recipes"
    for app in sorted(recipes.glob("*/app.py")):
        uri = app.relative_to(recipes.parent).as_posix()
        # Included although `exclude_docs` leaves out the *.py of docs/.
        files.append(File(uri, str(recipes.parent), config.site_dir, config.use_directory_urls,
                          inclusion=InclusionLevel.INCLUDED))
        # A file on disk, not content in memory: the i18n plugin reads every file's source path.
        archive = Path(ZIPS.name) / f"{app.parent.name}.zip"
        archive.write_bytes(recipe_zip(app.parent))
        files.append(File.generated(config, f"recipes/{archive.name}", abs_src_path=str(archive),
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
        slug = page.meta["recipe"]
        folder = Path(config.config_file_path).parent / "recipes" / slug
        names = ", ".join(f"`{path.relative_to(folder).as_posix()}`" for path in recipe_files(folder))
        up = "../" * page.file.src_uri.count("/")
        lines += ["", f"    [{words['download']} `{slug}/` ({names})]({up}recipes/{slug}.zip){{ download }}"]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown, page, config, files):
    """Put the box under the page's title."""
    if "recipe" not in page.meta and "services" not in page.meta:
        return markdown
    title, _, rest = markdown.partition("\n")
    # Left out of the search index: a result's preview is the page's own text, not this box.
    return f"{title}\n\n<div data-search-exclude markdown>\n\n{needs_box(page, config)}\n</div>\n{rest}"
