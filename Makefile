# make run: serve on 127.0.0.1:8000.  make test: the Bruno collection, the fuzzer, then pytest.
# make bench: the benchmarks (not part of test); BENCH_ARGS=--quick for a short run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
NODE_STAMP := node_modules/.installed
BENCH_OUT ?= var/bench.json
BENCH_ARGS ?=

.PHONY: run test pytest pytest-postgresql bruno fuzz bench clean

run: $(PY_STAMP)
	$(BIN)/python app.py

# pytest last: its summary closes the output, whatever ran before it.
test: bruno fuzz pytest

# Every suite on SQLite (setup.cfg leaves out the tests marked postgresql_only); then the
# suites marked both_backends, and those tests, on a throwaway PostgreSQL (tests/pgcluster.py:
# the system's initdb and pg_ctl, or JOBSAPI_TEST_POSTGRES_URL).
pytest: pytest-postgresql
	$(BIN)/python -m pytest

pytest-postgresql: $(PY_STAMP)
	JOBSAPI_TEST_BACKEND=postgresql $(BIN)/python -m pytest -p no:cacheprovider \
		-m "(both_backends or postgresql_only) and not sqlite_only"

bruno: $(PY_STAMP) $(NODE_STAMP)
	$(BIN)/python tests/run_bruno.py

# schemathesis against a live server, as an admin and as a client; FUZZ_SEED=<n> replays a seed.
fuzz: $(PY_STAMP)
	$(BIN)/python tests/fuzz.py

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run --out $(BENCH_OUT) $(BENCH_ARGS)

# Pinned installs: requirements.lock pins every Python package, package-lock.json the Bruno CLI.
# The test extra brings Playwright's Python package only: the browser tests drive Debian's
# chromium (apt-get install chromium), and nothing here downloads a browser.
$(PY_STAMP): setup.cfg pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test]'
	touch $@

# The bench extra (APScheduler, huey, Procrastinate, py-spy) on top, with its own stamp: make test never
# waits for it.
$(BENCH_STAMP): $(PY_STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[test,bench]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules var .pytest_cache
