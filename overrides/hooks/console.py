"""The copy button of a `console` block copies its commands only: no `$ `, no output.

Material's copy button copies the `data-copy` attribute of the block when it has one. Pygments
has already split each line into prompt and output; a line after one ending in `\\` continues
the command, as in bash. A block's title is the terminal it belongs to, not a command.
"""
import html
import re

CONSOLE_BLOCK = re.compile(r'<div class="language-console highlight">(.*?)</code></pre></div>', re.DOTALL)
TAG = re.compile(r"<[^>]+>")
# A block's title (```console title="Terminal 1: the server"), shown above it: not a command.
TITLE = re.compile(r'<span class="filename">.*?</span>', re.DOTALL)


def commands(text):
    lines = []
    for line in text.splitlines():
        if line.startswith("$ "):
            lines.append(line[2:])
        elif lines and lines[-1].endswith("\\"):
            lines.append(line)
    return "\n".join(lines)


def with_copy_text(match):
    text = html.unescape(TAG.sub("", TITLE.sub("", match.group(1), count=1)))
    copy = html.escape(commands(text), quote=True)
    return match.group(0).replace('highlight">', f'highlight" data-copy="{copy}">', 1)


def on_page_content(html_text, page, config, files):
    return CONSOLE_BLOCK.sub(with_copy_text, html_text)
