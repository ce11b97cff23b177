"""A notebook's figures get their alt text: the text/plain that an image output carries beside its
PNG (docs/production/benchmark.py writes it). nbconvert shows only the PNG, with the alt text
"No description has been provided for this image"; this puts each output's own text there."""
import html
import json
from pathlib import Path

MISSING = 'alt="No description has been provided for this image"'


def on_page_content(content, page, **kwargs):
    if not page.file.src_uri.endswith(".ipynb"):
        return content
    cells = json.loads(Path(page.file.abs_src_path).read_text(encoding="utf-8"))["cells"]
    texts = ["".join(output["data"].get("text/plain", "")) for cell in cells for output in cell.get("outputs", [])
             if "image/png" in output.get("data", {})]
    pieces = content.split(MISSING)
    if len(pieces) - 1 != len(texts):  # an image not from an output: leave the page as it is
        return content
    return pieces[0] + "".join(f'alt="{html.escape(text)}"' + piece for text, piece in zip(texts, pieces[1:]))
