"""`<this repository>` on a page (the home page's clone line) becomes the repository's address,
`extra.repository` of mkdocs.yml, so that the line a reader pastes works."""

PLACEHOLDER = "<this repository>"


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(PLACEHOLDER, config.extra["repository"] + ".git")
