"""`<this repository>` on a page (the home page's clone line) becomes the repository's address,
`extra.repository` of mkdocs.yml, so that the line a reader pastes works; a file of the repository
named in the text (`tests/test_login.py`) links to it there."""
import re
from pathlib import Path

PLACEHOLDER = "<this repository>"


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(PLACEHOLDER, config.extra["repository"] + ".git")


# A file of the repository named in a page's text, `tests/test_login.py`, links to it there.
FILE_NAMED = re.compile(r"(<a\b[^>]*>)?<code>((?:tests|bench|recipes|tools)/[\w./-]+\.(?:py|json|txt|sql|conf))</code>")


def on_page_content(html, page, config, files):
    root = Path(config.config_file_path).parent
    blob = config.extra["repository"] + "/blob/main/"

    def link(match):
        already_a_link, path = match.groups()
        if already_a_link or not (root / path).is_file():
            return match.group(0)
        return f'<a href="{blob}{path}"><code>{path}</code></a>'

    return FILE_NAMED.sub(link, html)
