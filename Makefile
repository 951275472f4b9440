# omnivoltaic-erm: every task starts from a plain `python3`; `install` makes the venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ERM_URL ?=

# Python trees that ruff checks and formats.
PY_PATHS := src tests codegen bench examples scripts
DOCS_STAMP := $(VENV)/.docs-installed
BROWSER_STAMP := $(VENV)/.browser-installed

.PHONY: install generate check-generated schema reconcile-schema lint test test-fast docs demo \
	bench soak simulate matrix mutation clean test-browser check-no-cli

install: $(STAMP)

# The interpreter is checked first (scripts/check_python.py), so that an unsupported
# Python is refused at once with the versions needed; the venv's pip is upgraded before
# the install, since an old pip resolves far more slowly.
$(STAMP): pyproject.toml
	@if test -x $(BIN)/python; then $(BIN)/python scripts/check_python.py $(BIN)/python --venv; \
	else $(PYTHON) scripts/check_python.py "$(PYTHON)" && $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[cli,dev,sandbox,schema]'
	@touch $(STAMP)

generate: install
	$(BIN)/python codegen/run.py generate

check-generated: install
	$(BIN)/python codegen/run.py check

schema: install
	@test -n "$(ERM_URL)" || { echo "usage: make schema ERM_URL=http://HOST:PORT/graphql" >&2; exit 2; }
	$(BIN)/erm schema pull --url "$(ERM_URL)" --out schema.graphql

# Rebuild schema.graphql from the printed copy of the real schema and the handbook's
# additions (codegen/handbook_additions.graphql); see the header of schema.graphql.
PRINTED ?= ../shared/reference/erm-federated-schema-2024-12.graphql
reconcile-schema: install
	$(BIN)/python codegen/reconcile_schema.py "$(PRINTED)"

lint: install
	$(BIN)/ruff check --no-cache $(PY_PATHS)
	$(BIN)/ruff format --no-cache --check $(PY_PATHS)
	$(BIN)/mypy --strict src tests/typing_consumer.py

test: install
	$(BIN)/python -m pytest -q

# The developer's loop: everything but the tests marked slow (soaks, crash loops, fuzzing,
# subprocess-heavy CLI runs); about 5 minutes on 2 cores. `make test` runs them all.
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# The dashboard in real headless Chromium (tests/browser, marker `browser`): needs the
# system's Chromium at /usr/bin/chromium (Debian: apt-get install chromium; .ci/run installs
# it); the `browser` extra (Playwright) is installed on first use. Under a minute.
# ERM_SCREENSHOTS=docs/img also rewrites the docs' screenshots of each view.
test-browser: install $(BROWSER_STAMP)
	$(BIN)/python -m pytest -q -m browser tests/browser

$(BROWSER_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[cli,dev,sandbox,schema,browser]'
	@touch $@

# The documentation site, into site/; any warning fails the build. The `docs` extra is
# installed on first use, so `make install` stays lean. NO_MKDOCS_2_WARNING silences the
# notice mkdocs-material prints on every build about its own end of life (May 2027); it
# is not a build warning, and --strict still fails on every warning.
docs: install $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[cli,dev,sandbox,schema,docs]'
	@touch $@

# Client cost, streaming, bulk issuance and start-up, measured side by side; a few
# minutes on 2 cores. Prints Markdown tables, writes them with the machine and the commit
# to bench/RESULTS.md (the docs include it) and every raw sample to bench/results.json.
bench: install
	$(BIN)/python -m bench

# The full fault-injection soak: 1,000 code requests across 100 items under ~20% faults
# of every kind; prints the reconciliation counts (a short run is part of `make test`).
soak: install
	$(BIN)/python -m tests.support.soak --requests 1000 --items 100

# The deterministic simulation of the money path (tests/support/sim.py): SCHEDULES seeded
# schedules of network faults, token expiry, reused request ids and cancellations on a
# virtual clock, every invariant checked after each; about 1 ms a schedule. `make test`
# runs 10,000; FIRST_SEED picks where to start.
SCHEDULES ?= 100000
FIRST_SEED ?= 0
simulate: install
	$(BIN)/python -m tests.support.sim --schedules $(SCHEDULES) --seed $(FIRST_SEED)

# The fast suite on Python 3.11, 3.12 and 3.13, and with every direct dependency at the
# floor pyproject.toml declares (uv's lowest-direct resolution); environments under
# .matrix/. CI runs it after `make test`. TARGETS=py3.12 runs one.
TARGETS ?=
matrix: install
	$(BIN)/python scripts/matrix.py $(TARGETS)

# The package installed with no extra (as `pip install omnivoltaic-erm`), in .matrix/no-cli:
# the library imports without click and rich, and `erm` prints how to install the `cli`
# extra and exits 1. Some 10 to 30 seconds (uv); part of CI.
check-no-cli: install
	$(BIN)/python scripts/check_no_cli.py

# Mutation testing of the money path and the command line's issuing paths (modules and
# test files: [tool.mutmut] in pyproject.toml), some 2,200 mutants. Parts run on their own
# with `.venv/bin/python scripts/mutation.py --only GLOB`: the journal and the command
# line (648 mutants) take about 19 minutes on 2 shared cores; the scope before the command
# line joined (1,771 mutants) took about 9. Prints the score and every surviving mutant,
# writes them to mutation-report.txt; exits 1 below 90% or on a stale equivalence entry.
# Not part of `make test`.
mutation: install
	$(BIN)/python scripts/mutation.py

# A sandbox on a free port, the CLI against it, a 20-row batch; stopped even on failure.
demo: install
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .matrix build dist site .pytest_cache .mypy_cache .ruff_cache mutants mutation-report.txt
