# NextPyter. `make demo` runs the main job on this machine; `make test` runs every test.
# Both install what they need (Debian packages as root, a .venv for Python).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the demo, tests and benchmarks start for real.
DEBS := redis-server nginx chromium wrk
STAMP := $(VENV)/.installed

.PHONY: deps venv lint test test-fast demo bench clean

deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check sidecar tests bench
	$(BIN)/ruff format --check sidecar tests bench
	$(BIN)/mypy

test: deps venv lint
	$(BIN)/pytest

# The quick inner loop: no Jupyter, nginx or browser.
test-fast: venv
	$(BIN)/pytest -m "not slow" -q

demo: deps venv
	$(BIN)/python -m sidecar.demo

bench: deps venv
	$(BIN)/python bench/bench.py

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
