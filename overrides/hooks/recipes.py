"""Recipe pages: what the page needs, from its front matter, and its recipe to download.

A page's `services:` names servers described in `extra.services` of mkdocs.yml (the same
description the test suite uses to reach them); `recipe:` names its recipe. The page's download is
a zip of `<slug>/`: the folders of every recipe its commands run (`recipes/<slug>/` first; links
followed: a module a recipe borrows from another is in it), their packages in one
`requirements.txt`, and a README saying how to start it. Unzipped, the page's commands run there
as they do in a clone of the cookbook; the test suite runs every page so.
"""
import io
import re
import tempfile
import zipfile
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

WORDS = {
    "en": {"title": "What this page needs", "base": "Python, web.py and curl",
           "alone": ", nothing else", "server": "{name}, reached through {variables}",
           "and": "and", "download": "Download the recipe:", "others": "the page's other recipes",
           "packages": "the Python packages of the download's `requirements.txt`: {names}",
           "holds": "{files}; run the page's commands in the `{slug}/` folder it unzips to"},
    "fr": {"title": "Ce qu'il faut pour cette page", "base": "Python, web.py et curl",
           "alone": ", rien d'autre", "server": "{name}, accessible via {variables}",
           "and": "et", "download": "Télécharger la recette\u00a0:", "others": "les autres recettes de la page",
           "packages": "les paquets Python du `requirements.txt` du téléchargement\u00a0: {names}",
           "holds": "{files}\u00a0; tapez les commandes de la page dans le dossier `{slug}/` que crée "
                    "sa décompression"},
}


ZIPS = tempfile.TemporaryDirectory(prefix="cookbook-recipe-zips-")  # removed when the build's process ends

# What running a recipe leaves in its folder, never part of it.
LEFT_BY_RUNS = {"__pycache__", "sessions", ".pytest_cache"}
RECIPE_PAGE = re.compile(r"\A---\n(?:.*\n)*?recipe: (?P<slug>[\w-]+)\n(?:.*\n)*?---\n")
COMMAND = re.compile(r"^\$ (?P<command>.*)$", re.MULTILINE)
CONSOLE_BLOCK = re.compile(r"^```console[^\n]*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
RECIPE_FOLDER = re.compile(r"\brecipes/(?P<slug>[\w-]+)(?=/|\s|$)")
REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*")


def recipe_files(folder):
    """The files of a recipe's folder, sorted, what its runs leave out."""
    return sorted(path for path in folder.rglob("*")
                  if path.is_file() and not LEFT_BY_RUNS & set(path.relative_to(folder).parts)
                  and path.suffix not in (".pyc", ".log", ".db") and not path.name.startswith("sessions."))


def page_commands(markdown):
    """The commands a reader types on the page, in order."""
    return [line["command"] for block in CONSOLE_BLOCK.finditer(markdown)
            for line in COMMAND.finditer(block["body"])]


def recipes_a_page_runs(markdown, slug):
    """Its own recipe first, then every other recipe folder its commands name."""
    slugs = [slug] + [found["slug"] for command in page_commands(markdown) for found in RECIPE_FOLDER.finditer(command)]
    return list(dict.fromkeys(slugs))


def requirements(folders):
    """One requirements.txt for the folders: their lines, each package once with its line's comment."""
    lines, names = [], set()
    for folder in folders:
        for line in (folder / "requirements.txt").read_text(encoding="utf-8").splitlines():
            name = REQUIREMENT_NAME.match(line)
            if name and name.group().lower() not in names:
                names.add(name.group().lower())
                lines.append(line)
    return "\n".join(lines) + "\n"


def packages(folders):
    """The packages the folders need beyond web.py, as a reader knows them (no version, no extra)."""
    return [REQUIREMENT_NAME.match(line).group() for line in requirements(folders).splitlines()
            if REQUIREMENT_NAME.match(line).group().lower() != "web.py"]


def readme(markdown, slug, urls):
    starts = [command for command in page_commands(markdown) if f"recipes/{slug}/app.py 8080" in command]
    start = starts[0] if starts else f"python recipes/{slug}/app.py 8080"
    return ("\n".join(urls) + "\n\n"
            "The page's commands run in this folder, as in a clone of the cookbook, once what\n"
            "its box \"What this page needs\" lists is ready (some pages need PostgreSQL or Redis).\n"
            "Tapez les commandes de la page dans ce dossier, comme dans un clone du dépôt, quand\n"
            "tout ce que liste son encadré «\u00a0Ce qu'il faut pour cette page\u00a0» est prêt\n"
            "(certaines pages ont besoin de PostgreSQL ou de Redis).\n\n"
            "python3 -m venv .venv\n. .venv/bin/activate\n"
            f"python -m pip install -r requirements.txt\n{start}\n")


def page_download(repo, markdown, urls):
    """A recipe page's download, a zip of `<slug>/`: the same bytes for the same files (dates fixed)."""
    slug = RECIPE_PAGE.match(markdown)["slug"]
    folders = [repo / "recipes" / name for name in recipes_a_page_runs(markdown, slug)]
    entries = {f"recipes/{folder.name}/{path.relative_to(folder).as_posix()}": path.read_bytes()
               for folder in folders for path in recipe_files(folder)}
    entries["requirements.txt"] = requirements(folders).encode()
    entries["README.txt"] = readme(markdown, slug, urls).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            entry = zipfile.ZipInfo(f"{slug}/{name}", (1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def page_urls(site_url, source):
    """Where an English page and its French twin are published: docs/basics/count.md ->
    <site_url>basics/count/ and <site_url>fr/basics/count/."""
    path = source.with_suffix("").as_posix()
    return [f"{site_url}{path}/", f"{site_url}fr/{path}/"]


def on_files(files, config):
    repo = Path(config.config_file_path).parent
    docs = Path(config.docs_dir)
    for app in sorted((repo / "recipes").glob("*/app.py")):
        # Included although `exclude_docs` leaves out the *.py of docs/.
        files.append(File(app.relative_to(repo).as_posix(), str(repo), config.site_dir, config.use_directory_urls,
                          inclusion=InclusionLevel.INCLUDED))
    for source in sorted(docs.rglob("*.md")):
        markdown = source.read_text(encoding="utf-8")
        if source.name.endswith(".fr.md") or not RECIPE_PAGE.match(markdown):
            continue
        # A file on disk, not content in memory: the i18n plugin reads every file's source path.
        archive = Path(ZIPS.name) / f"{RECIPE_PAGE.match(markdown)['slug']}.zip"
        archive.write_bytes(page_download(repo, markdown, page_urls(config.site_url, source.relative_to(docs))))
        files.append(File.generated(config, f"recipes/{archive.name}", abs_src_path=str(archive),
                                    inclusion=InclusionLevel.INCLUDED))
    return files


def listing(items, conjunction):
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def needs_box(page, config, markdown):
    """The admonition saying what the page needs, in the page's language."""
    words = WORDS[getattr(page.file, "locale", "en")]
    services = [config.extra["services"][name] for name in page.meta.get("services", [])]
    lines = [f'!!! info "{words["title"]}"', ""]
    slugs = recipes_a_page_runs(markdown, page.meta["recipe"]) if "recipe" in page.meta else []
    needed = packages([Path(config.config_file_path).parent / "recipes" / slug for slug in slugs])
    lines.append(f"    - {words['base']}{'' if services or needed else words['alone']}")
    if needed:
        lines.append("    - " + words["packages"].format(names=listing([f"`{name}`" for name in needed], words["and"])))
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
        files = [f"`recipes/{slug}/` ({names})"]
        others = [f"`recipes/{other}/`" for other in slugs[1:]]
        if others:
            files.append(f"{words['others']} ({', '.join(others)})")
        files += ["`requirements.txt`", "`README.txt`"]
        up = "../" * page.file.src_uri.count("/")
        holds = words["holds"].format(files=listing(files, words["and"]), slug=slug)
        lines += ["", f"    [{words['download']} `{slug}.zip`]({up}recipes/{slug}.zip){{ download }} — {holds}."]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown, page, config, files):
    """Put the box under the page's title."""
    if "recipe" not in page.meta and "services" not in page.meta:
        return markdown
    title, _, rest = markdown.partition("\n")
    # Left out of the search index: a result's preview is the page's own text, not this box.
    return f"{title}\n\n<div data-search-exclude markdown>\n\n{needs_box(page, config, markdown)}\n</div>\n{rest}"
