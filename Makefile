# The two commands of the README. Both create .venv and install requirements.txt first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test check recipe bench translations requirements

serve: $(VENV)/installed
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

# Everything, as CI runs it.
test: $(VENV)/installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The loop for a page or recipe edit: what the files changed since $(SINCE) need (tools/what_changed.py:
# the transcripts of the pages they touch, in both languages, their recipes' tests) and the built site's
# tests (strict build, links, spelling); never the browser, reliability, slow and upstream tests.
# ALL=1: every transcript and test under those markers, whatever changed.
CHECK_MARKERS := not browser and not reliability and not slow and not upstream
SINCE ?= main
check: $(VENV)/installed
	$(BIN)/python -m pytest -m "$(CHECK_MARKERS)" $(if $(ALL),,$$($(BIN)/python tools/what_changed.py $(SINCE))) $(PYTEST_ARGS)

# One recipe: its pages in both languages and its tests (make recipe SLUG=cart).
recipe: $(VENV)/installed
	@test -n "$(SLUG)" || { echo "Name the recipe: make recipe SLUG=cart"; exit 2; }
	$(BIN)/python -m pytest $(wildcard docs/*/$(SLUG).md docs/*/$(SLUG).fr.md tests/test_$(subst -,_,$(SLUG)).py) $(PYTEST_ARGS)

# What a session costs on each store, on this machine (about 5 minutes; needs wrk, PostgreSQL, Redis),
# then the Performance page's notebooks again, on the new bench/results.json.
bench: $(VENV)/installed
	$(BIN)/python bench/run.py
	$(BIN)/jupyter nbconvert --log-level WARN --to notebook --execute --inplace \
		docs/production/performance.ipynb docs/production/performance.fr.ipynb

# French pages whose English twin changed after them, from git history.
translations:
	@$(PYTHON) tools/translations.py

# The pinned files again, after an edit of the direct dependencies (requirements.in, and
# requirements/site.in: what the site's build needs, all the publish workflow installs): uv,
# installed into .venv for this only, compiles them for every platform and Python 3.11+, keeping
# the versions already pinned (COMPILE_ARGS=--upgrade, or --upgrade-package NAME, moves them).
# Needs the network (PyPI). Commit all four files. make test and make serve install requirements.txt
# and need no uv.
UV := uv==0.13.8
COMPILE = $(BIN)/python -m uv pip compile --quiet --universal --python-version 3.11 \
	--custom-compile-command "make requirements" $(COMPILE_ARGS)
requirements: $(VENV)/installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(UV)
	$(COMPILE) requirements/site.in -o requirements/site.txt
	$(COMPILE) requirements.in -o requirements.txt

$(VENV)/installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "The cookbook needs Python 3.11 or newer (PYTHON=$(PYTHON))."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@
