"""Search in the reader's language: English pages search English pages, French pages French ones.

The i18n plugin leaves one index of both languages at search/search_index.json. After it, this
hook splits it: English entries stay there, French ones go to fr/search/search_index.json, read
with lunr's French word rules and stop words. Material's search fetches `search/search_index.json`
from the `base` of a page's `__config`, so a French page's base is the French site's root.

Every word of the index is kept with its accents and without them, so that "securite" finds
« sécurité ». No stemmer: Material searches each typed word as a prefix (`sécurité*`), and lunr
does not stem a prefix, so an index of stems ("sécur") would miss every whole word typed.
"""
import json
import re
from pathlib import Path

from mkdocs.plugins import event_priority

FRENCH = "fr"
CONFIG = re.compile(r'(<script id="__config" type="application/json">)(.*?)(</script>)', re.DOTALL)

# Wraps lunr-languages' French plugin (loaded by Material's search worker): a step after its stop
# words gives each word with accents a second token without them.
FOLD_ACCENTS = """
;(function () {
  var french = lunr.fr;
  var fold = function (token) {
    var folded = token.toString().normalize("NFD").replace(/[\\u0300-\\u036f]/g, "");
    return folded === token.toString() ? token : [token, token.clone(function () { return folded; })];
  };
  lunr.Pipeline.registerFunction(fold, "foldAccents-fr");
  lunr.fr = function () {
    french.call(this);
    this.pipeline.after(lunr.fr.stopWordFilter, fold);
  };
  Object.assign(lunr.fr, french);
})();
"""


def french_search(output):
    """The page's search reads the French index, and its results lead under fr/."""
    def french_base(match):
        settings = json.loads(match.group(2))
        settings["base"] = settings["base"].rstrip("/") + f"/{FRENCH}/"
        return match.group(1) + json.dumps(settings) + match.group(3)

    return CONFIG.sub(french_base, output, count=1)


def on_post_page(output, page, config):
    return french_search(output) if getattr(page.file, "locale", None) == FRENCH else output


@event_priority(-200)  # after the i18n plugin's on_post_build (-100), which writes the merged index
def on_post_build(config):
    site = Path(config.site_dir)
    merged = site / "search" / "search_index.json"
    index = json.loads(merged.read_text(encoding="utf-8"))
    prefix = FRENCH + "/"
    french = [doc for doc in index["docs"] if doc["location"].startswith(prefix)]
    english = [doc for doc in index["docs"] if not doc["location"].startswith(prefix)]
    if not (french and english):
        return  # the French build, which the i18n plugin runs inside the English one: not merged yet
    merged.write_text(json.dumps(dict(index, config=dict(index["config"], lang=["en"]), docs=english)),
                      encoding="utf-8")
    for doc in french:
        doc["location"] = doc["location"].removeprefix(prefix)
    french_config = dict(index["config"], lang=[FRENCH], pipeline=["trimmer", "stopWordFilter"])
    (site / FRENCH / "search").mkdir(parents=True, exist_ok=True)
    (site / FRENCH / "search" / "search_index.json").write_text(
        json.dumps(dict(index, config=french_config, docs=french)), encoding="utf-8")
    french_404 = site / FRENCH / "404.html"  # a theme template, not a page: written by translations.py
    french_404.write_text(french_search(french_404.read_text(encoding="utf-8")), encoding="utf-8")
    stemmer = site / "assets" / "javascripts" / "lunr" / "min" / "lunr.fr.min.js"
    stemmer.write_text(stemmer.read_text(encoding="utf-8") + FOLD_ACCENTS, encoding="utf-8")
