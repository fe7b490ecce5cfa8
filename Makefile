# gridmap: two commands on a fresh Debian machine.
#   make demo   installs what is missing, starts the private PostGIS, loads the demo, serves the API
#   make test   the whole suite: lint, format, types, layering, dependencies, migrations, tests,
#               doctests, notebooks

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test system venv lint typecheck deps constraints bench reliability serve clean

system:
	@scripts/install-system.sh

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: system $(STAMP)

demo: venv
	@$(BIN)/gridmap demo
	@echo "API:  http://127.0.0.1:8000/api/v1/units?level=county"
	@echo "Docs: http://127.0.0.1:8000/docs (log in with an account printed above)"
	@$(BIN)/gridmap serve --host 127.0.0.1 --port 8000

lint: venv
	@$(BIN)/ruff check gridmap api tests benchmarks scripts
	@$(BIN)/ruff format --check gridmap api tests benchmarks scripts
	@$(BIN)/lint-imports
	@$(BIN)/deptry . --no-ansi

typecheck: venv
	@$(BIN)/mypy

# Every runtime import is a declared dependency, and none is declared but unused.
deps: venv
	@$(BIN)/deptry .

# Re-pin constraints.txt from pyproject.toml with a resolver; existing pins are kept where
# they still fit (add --upgrade-package NAME to move one).
constraints: venv
	@$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header \
		--quiet -o constraints.txt

test: lint typecheck
	@$(BIN)/python -m pytest -q gridmap tests --doctest-modules --ignore=gridmap/db/migrations

bench: venv
	@command -v wrk >/dev/null || scripts/install-system.sh wrk
	@$(BIN)/gridmap demo > /dev/null
	@$(BIN)/gridmap bench lookup --json > benchmarks/results/lookup.json
	@$(BIN)/gridmap bench locate --json > benchmarks/results/locate.json
	@$(BIN)/gridmap bench intake --json > benchmarks/results/intake.json
	@$(BIN)/gridmap bench export --json > benchmarks/results/export.json
	@$(BIN)/gridmap bench relocation --json > benchmarks/results/relocation.json
	@echo "results in benchmarks/results/"

# The proofs of docs/reliability.md (written by the command): load, a PostgreSQL restart under
# load, SIGKILL mid-generation, the long fuzz run, a backup round trip. About 15 minutes.
reliability: venv
	@command -v wrk >/dev/null || scripts/install-system.sh wrk
	@$(BIN)/gridmap demo > /dev/null
	@$(BIN)/python -m benchmarks.reliability

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
