# omnivoltaic-erm: every task starts from a plain `python3`; `install` makes the venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ERM_URL ?=

.PHONY: install generate check-generated schema lint test demo bench soak mutation clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,sandbox,schema]'
	@touch $(STAMP)

generate: install
	$(BIN)/python codegen/run.py generate

check-generated: install
	$(BIN)/python codegen/run.py check

schema: install
	@test -n "$(ERM_URL)" || { echo "usage: make schema ERM_URL=http://HOST:PORT/graphql" >&2; exit 2; }
	$(BIN)/erm schema pull --url "$(ERM_URL)" --out schema.graphql

lint: install
	$(BIN)/ruff check --no-cache src tests codegen bench examples
	$(BIN)/mypy --strict src tests/typing_consumer.py

test: install
	$(BIN)/python -m pytest -q

# Client cost, streaming, bulk issuance and start-up, measured side by side; a few
# minutes on 2 cores. Prints Markdown tables and writes bench/results.json.
bench: install
	$(BIN)/python -m bench

# The full fault-injection soak: 1,000 code requests across 100 items under ~20% faults
# of every kind; prints the reconciliation counts (a short run is part of `make test`).
soak: install
	$(BIN)/python -m tests.soak --requests 1000 --items 100

# Mutation testing of the money path (modules and test files: [tool.mutmut] in
# pyproject.toml); about 20 minutes on 2 cores. Prints the score and every surviving
# mutant, writes them to mutation-report.txt; exits 1 below 90%. Not part of `make test`.
mutation: install
	$(BIN)/python scripts/mutation.py

# A sandbox on a free port, the CLI against it, a 20-row batch; stopped even on failure.
demo: install
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache mutants mutation-report.txt
