# The two commands of the README. Both create .venv and install requirements.txt first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test bench translations

serve: $(VENV)/installed
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: $(VENV)/installed
	$(BIN)/python -m pytest

# What a session costs on each store, on this machine (about 5 minutes; needs wrk, PostgreSQL, Redis),
# then the Performance page's notebooks again, on the new bench/results.json.
bench: $(VENV)/installed
	$(BIN)/python bench/run.py
	$(BIN)/jupyter nbconvert --log-level WARN --to notebook --execute --inplace \
		docs/production/performance.ipynb docs/production/performance.fr.ipynb

# French pages whose English twin changed after them, from git history.
translations:
	@$(PYTHON) tools/translations.py

$(VENV)/installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "The cookbook needs Python 3.11 or newer (PYTHON=$(PYTHON))."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@
