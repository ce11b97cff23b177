"""Counts gathered during a run and printed at its end (conftest.py's terminal summary)."""
from collections import Counter

#: Transcript blocks of docs/ that ran and matched, by language ("en" or "fr").
transcripts_run = Counter()
#: Figures of the reliability tests (requests tried, errors, lost updates...).
reliability_figures = Counter()
