# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8501

.PHONY: demo test install install-dev browser bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bpo-insights needs Python 3.11 or newer (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Headless Chromium for the browser tests: Debian's packages, never a downloaded browser build.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian chromium + chromium-driver for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: chromium/chromedriver absent and not root: browser tests will be skipped (apt-get install chromium chromium-driver)"; fi

demo: install
	$(BIN)/bpo-insights demo --port $(PORT)

test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Every benchmark with its peers (Prophet from the bench extra): tens of minutes on 2 cores.
bench: $(BIN)/python browser
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python benchmarks/kpi_cube.py
	$(BIN)/python benchmarks/kpi_cube.py --process
	$(BIN)/python benchmarks/sync_zendesk.py
	$(BIN)/python benchmarks/forecast_backtest.py
	$(BIN)/python benchmarks/detection.py
	$(BIN)/python benchmarks/dashboard.py

clean:
	rm -rf $(VENV) workspace artifacts .pytest_cache
