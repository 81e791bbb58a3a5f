# Two commands on a fresh machine:
#   make run    install, build the index from corpus/ if it is missing or stale, serve the chat
#   make test   install (with the test tools and Debian's chromium), run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 7860
# Gradio must never phone home (also set in ui/ before gradio is imported).
export GRADIO_ANALYTICS_ENABLED := False
AXE := tests/js/node_modules/.installed

.PHONY: run test bench install browser services build serve clean screenshots

run: $(VENV)/.installed
	$(BIN)/clinic-assistant build --if-stale
	$(BIN)/clinic-assistant serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test browser services $(AXE)
	$(BIN)/python -m pytest

# The benchmark suite (README "Performance"); e.g. make bench BENCH_ARGS="--sizes seed".
# Then the build locally and on Dask, and the nodes needed past one machine (benchmarks/cluster.py).
bench: $(VENV)/.installed-cluster
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/cluster.py $(CLUSTER_BENCH_ARGS)

install: $(VENV)/.installed

# The README's pictures of the staff console, taken by its browser test.
screenshots: $(VENV)/.installed-test browser $(AXE)
	$(BIN)/python -m pytest -q tests/test_staff_browser.py
	mkdir -p docs/staff && cp test-artifacts/staff/*.png docs/staff/

# torch first and pinned: its CPU wheel of 2.13.0 is available here, while an unpinned torch
# (asked for by sentence-transformers) would pull several GB of CUDA packages.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-cluster: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[cluster]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }

# Debian's Redis, PostgreSQL and nginx for the tests past one machine (tests/services.py starts
# throwaway ones on loopback; the packages' own services are not used).
services:
	@{ command -v redis-server && command -v nginx && test -x /usr/lib/postgresql/15/bin/initdb; } >/dev/null 2>&1 || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q redis-server nginx postgresql; }

# axe-core for the browser tests' accessibility checks, pinned by tests/js/package-lock.json.
$(AXE): tests/js/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q npm; }
	npm ci --prefix tests/js --no-audit --no-fund
	touch $@

build: $(VENV)/.installed
	$(BIN)/clinic-assistant build

serve: $(VENV)/.installed
	$(BIN)/clinic-assistant serve --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts tests/js/node_modules index/current index/builds index/.tmp-* index/.build.lock
