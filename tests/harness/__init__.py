"""The cookbook's test harness, one module per job.

- ``transcripts``: pages are tests (``console`` transcripts and ``pycon`` doctests, with Sybil).
- ``processes``: recipes and other servers as real background processes.
- ``services``: throw-away PostgreSQL and Redis servers (and a Redis primary, its replica and three
  Sentinels), and what a missing tool does.
- ``catalogue``: what each recipe is (entry page, cookie, store variants...): the one place to declare it.
- ``variants``: a catalogue variant started on its store, warmed up, and started again after a kill.
- ``client``: the one HTTP client of the tests.
- ``copies``: a recipe copied with a defence taken out, anchored on code.
- ``in_process``: a recipe imported and driven with ``app.request()``, and its store's calls.
- ``site``: what mkdocs.yml and the pages' front matter say.
- ``browser``, ``built_site``: pytest plugins (Chromium; the site built once and served).
- ``report``: the figures printed at the end of a run.
"""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes"
