# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UGC := $(BIN)/ugc
# `make test` runs its own stack (folder and ports in tests/stack.env) beside a `make run` one.
TEST_ENV := UGC_ENV_FILE=tests/stack.env
# The benchmarks run their own stack too (bench/stack.env), started and stopped around them.
BENCH_ENV := UGC_ENV_FILE=bench/stack.env
# The fault suite runs on a 3-node Kafka cluster of its own (tests/faults/stack.env).
FAULTS_ENV_FILE ?= tests/faults/stack.env
FAULTS_ENV := UGC_ENV_FILE=$(FAULTS_ENV_FILE)
RUNS ?= 10

.PHONY: install run stop status test test-faults soak faults lint format bench-ingest bench-writes bench-pipeline clean chromium

install: $(VENV)/.installed

# Wheels are kept in a wheelhouse outside the checkout: a fresh clone resolves versions against
# the index but downloads no wheel it already has (this registry's answers are not cached by pip).
WHEELHOUSE ?= $(HOME)/.cache/ugc-wheelhouse

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip download -q -d $(WHEELHOUSE) "setuptools>=69" ".[dev]"
	$(BIN)/pip install -q --no-index --find-links $(WHEELHOUSE) -e ".[dev]"
	touch $@

# A developer's machine: the public JWT secret is accepted (production refuses it) unless
# UGC_ENVIRONMENT is set otherwise in the environment.
run: export UGC_ENVIRONMENT ?= development
run: install
	$(UGC) stack up
	$(UGC) run

stop:
	$(UGC) stack down

status:
	$(UGC) stack status

test: install chromium
	$(TEST_ENV) $(UGC) stack up
	$(TEST_ENV) $(BIN)/pytest; status=$$?; $(TEST_ENV) $(UGC) stack down; exit $$status

# The dashboard's test drives Debian's Chromium headless (Playwright downloads no browser).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# Faults under load (tests/faults): one run of each scenario, or RUNS of them (`make soak`); both
# write docs/reliability.md and docs/benchmarks/reliability.json, and stop their stack after.
test-faults: install
	$(MAKE) --no-print-directory faults RUNS=1 FAULTS_COMMAND="make test-faults"

soak: install
	$(MAKE) --no-print-directory faults FAULTS_COMMAND="make soak RUNS=$(RUNS)"

faults:
	@began=$$(date +%s); $(FAULTS_ENV) $(UGC) stack up || { $(FAULTS_ENV) $(UGC) stack down; exit 1; }; \
	$(FAULTS_ENV) $(BIN)/python -m tests.faults.report --reset; \
	status=0; for run in $$(seq $(RUNS)); do $(FAULTS_ENV) $(BIN)/pytest tests/faults || status=1; done; \
	$(FAULTS_ENV) $(BIN)/python -m tests.faults.report --wall-s $$(( $$(date +%s) - began )) --command "$(FAULTS_COMMAND)"; \
	$(FAULTS_ENV) $(UGC) stack down; exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks write docs/benchmarks.md. Both run on their own stack (bench/stack.env), started
# and stopped around them, so they never fill the `make run` stack's topics.
bench-ingest: install
	@command -v wrk >/dev/null || apt-get install -y -qq wrk
	$(BENCH_ENV) $(UGC) stack up
	$(BENCH_ENV) $(BIN)/python -m bench.ingest; status=$$?; $(BENCH_ENV) $(UGC) stack down; exit $$status

bench-writes: install
	$(BENCH_ENV) $(UGC) stack up
	$(BENCH_ENV) $(BIN)/python -m bench.projection_writes; status=$$?; $(BENCH_ENV) $(UGC) stack down; exit $$status

bench-pipeline: install
	$(BENCH_ENV) $(UGC) stack up
	$(BENCH_ENV) $(BIN)/python -m bench.pipeline; status=$$?; $(BENCH_ENV) $(UGC) stack down; exit $$status

clean:
	-$(UGC) stack down
	-$(TEST_ENV) $(UGC) stack down
	-$(BENCH_ENV) $(UGC) stack down
	-$(FAULTS_ENV) $(UGC) stack down
	rm -rf .stack .stack-test .stack-bench .stack-faults $(VENV)
