# Two commands set up a fresh machine: `make run` serves the campaign, `make test` tests it.
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-test install-bench lock run migrate test test-fast lint format bench load \
	soak burst bench-counts clean fuzz lighthouse

install:
	scripts/install.sh

install-test:
	scripts/install.sh --test

# The test set-up and the benchmarks' own packages (reportlab, typst).
install-bench:
	scripts/install.sh --bench

# Writes the locks scripts/install.sh installs from (requirements/*.txt, with hashes) from
# requirements/build.in and pyproject.toml, keeping every pin that still fits: run it after
# changing a dependency, then `make install-test`. `make lock LOCK_FLAGS=--upgrade` moves every
# package to its newest allowed release. Each lock builds on the one before, so a package has
# the same version in all four.
LOCK := $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" --quiet $(LOCK_FLAGS)
lock: install-test
	$(LOCK) requirements/build.in -o requirements/build.txt
	$(LOCK) requirements/build.in pyproject.toml -c requirements/build.txt -o requirements/service.txt
	$(LOCK) requirements/build.in pyproject.toml --extra test -c requirements/service.txt \
		-o requirements/test.txt
	$(LOCK) requirements/build.in pyproject.toml --extra test --extra bench -c requirements/test.txt \
		-o requirements/bench.txt

migrate: install
	$(BIN)/letter-campaign migrate

run: migrate
	$(BIN)/letter-campaign serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The whole suite, in TEST_WORKERS processes side by side (pytest-xdist): each has its own
# databases, ports and folders. On two CPUs two were as fast as three, and lighter.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/pytest -n $(TEST_WORKERS)

# The edit-test loop: no browser and no server, command or render process of the service, each
# test once on SQLite, and none of the few that take seconds (tests/conftest.py marks them).
test-fast: lint
	$(BIN)/pytest -n $(TEST_WORKERS) -m "not browser and not slow and not postgresql"

# The property and schema fuzz tests of `make test`, with many more examples, drawn at random.
fuzz: install-test
	PROPERTY_EXAMPLES=500 FUZZ_EXAMPLES=1000 $(BIN)/pytest -s -p no:logging \
		tests/test_properties.py tests/test_schema_fuzz.py

# Not part of `make test`: prints figures for issue 11 (fast PDFs), asserts nothing.
bench: install-bench
	$(BIN)/python -m benchmarks.bench_pdf

# Not part of `make test`: the real server under 16 simulated supporters (issue 11's load goals),
# and the same for 100,000 packs to see whether each process's memory stays flat (about 30 min).
load: install-bench
	$(BIN)/python -m benchmarks.load --clients 16 --seconds 400 --max-packs 10000

# Not part of `make test`: a launch, 200 supporters within one second on the default set-up.
burst: install-bench
	$(BIN)/python -m benchmarks.burst --supporters 200 --within 1

soak: install-bench
	$(BIN)/python -m benchmarks.load --clients 16 --seconds 3600 --max-packs 100000

# Not part of `make test`: issue 10, counts at scale. Drops and refills its own databases.
BENCH_POSTGRES ?= postgresql+psycopg://postgres@127.0.0.1:5432/letter_campaign_bench
bench-counts: install-test
	mkdir -p var
	$(BIN)/python -m benchmarks.bench_counts --database sqlite:///var/bench-counts.db \
		--letters 100000 1000000
	$(BIN)/python -m benchmarks.bench_counts --database $(BENCH_POSTGRES) \
		--letters 100000 1000000 10000000

# Not part of `make test`: issue 25, Lighthouse's mobile scores of the campaign page in each UI
# language (about 15 s each); exits 1 below performance 0.95 or any other category below 1.0.
lighthouse: install-test
	$(BIN)/python -m benchmarks.lighthouse --languages en ru kk

clean:
	rm -rf $(VENV) node_modules build var .pytest_cache .ruff_cache
