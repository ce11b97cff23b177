"""The Performance page shows a run of today's benchmark on today's code."""
import hashlib
import json
import sys

from harness import REPO

sys.path.insert(0, str(REPO / "bench"))
from run import CASES  # noqa: E402

RESULTS = json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))


def test_the_results_cover_every_case_of_the_benchmark():
    assert [result["name"] for result in RESULTS["results"]] == list(CASES)


def test_the_results_were_measured_on_the_code_as_it_is():
    """A recipe changed since `make bench` ran: run it again (the page's figures would be stale)."""
    stale = [result["name"] for result in RESULTS["results"]
             if hashlib.sha256((REPO / result["app"]["path"]).read_bytes()).hexdigest() != result["app"]["sha256"]]
    assert stale == []
