"""The site in two languages: notebooks as pages, twins checked, hreflang and 404 pages right."""
import re
from pathlib import Path, PurePosixPath

import mkdocs_static_i18n.suffix
from mkdocs.plugins import event_priority, get_plugin_logger
from mkdocs.structure.files import File

log = get_plugin_logger("translations")

PAGE_SUFFIXES = (".md", ".ipynb")


class I18nFile(File):
    """The File that mkdocs-static-i18n rebuilds every docs file as, notebooks being pages too."""

    def is_documentation_page(self):
        return self.src_uri.endswith(".ipynb") or super().is_documentation_page()


# mkdocs-static-i18n replaces mkdocs-jupyter's NotebookFile by a plain File, for which only
# Markdown is a page: notebooks were then copied as assets and served as raw JSON
# (ultrabug/mkdocs-static-i18n#198). Seen as pages, they get i18n's URLs and language
# switch, and mkdocs-jupyter still renders them (it checks the source path, not the class).
mkdocs_static_i18n.suffix.File = I18nFile


@event_priority(100)  # before i18n (-100) drops the pages it does not build
def on_files(files, config):
    """Warn (an error under --strict) about a page without its twin in every language."""
    i18n = config.plugins["i18n"]
    if i18n.current_language != i18n.default_language:
        return files  # i18n builds the site once per language: check on the first build only
    translations = [lang for lang in i18n.build_languages if lang != i18n.default_language]
    pages = {
        file.src_uri for file in files
        if file.src_uri.endswith(PAGE_SUFFIXES) and not file.inclusion.is_excluded()
    }
    for uri in sorted(pages):
        path = PurePosixPath(uri)
        stem, _, language = path.stem.rpartition(".")
        if language in translations:  # e.g. basics/count.fr.md
            original = path.with_name(stem + path.suffix).as_posix()
            if original not in pages:
                log.warning(f"{uri} translates {original}, which does not exist")
            continue
        for language in translations:
            twin = path.with_name(f"{path.stem}.{language}{path.suffix}").as_posix()
            if twin not in pages:
                log.warning(f"{uri} has no '{language}' translation: {twin} is missing")
    return files


# Material fetches sitemap.xml beside every <link rel="alternate"> of a page, as if it named a
# language's root; i18n's links name the page's twin, so each page asked for two sitemaps that do
# not exist. The hreflang alternates are in i18n's sitemap.xml instead.
ALTERNATE_LINK = re.compile(r'\s*<link rel="alternate" href="[^"]*" hreflang="[^"]*">')


# What Python-Markdown and mkdocs-jupyter write in English on every page, in French on French pages
# (Material's own strings come from overrides/partials/language.html).
FRENCH_STRINGS = {
    'title="Permanent link"': 'title="Lien permanent"',
    'aria-label="Copy to Clipboard"': 'aria-label="Copier dans le presse-papiers"',
    ">Copied!<": ">Copié\u00a0!<",
}


def on_post_page(output, page, config):
    output = ALTERNATE_LINK.sub("", output)
    if page is not None and getattr(page.file, "locale", None) == "fr":
        for english, french in FRENCH_STRINGS.items():
            output = output.replace(english, french)
    return output


def on_post_template(output, template_name, config):
    """Keep each language's 404 page: i18n renders 404.html for every language to the same file,
    the last one winning. The default language's stays there; the others go to their folder."""
    output = on_post_page(output, None, config)
    i18n = config.plugins["i18n"]
    site = Path(config.site_dir)
    if template_name != "404.html" or i18n.current_language == i18n.default_language:
        return output
    (site / i18n.current_language).mkdir(parents=True, exist_ok=True)
    (site / i18n.current_language / "404.html").write_text(output, encoding="utf-8")
    return (site / "404.html").read_text(encoding="utf-8")
