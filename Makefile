# NextPyter. `make demo` runs the main job on this machine; `make test` runs every test.
# Both install what they need (Debian packages as root, a .venv for Python).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP := nextcloud_app
STAMP := $(VENV)/.installed
NPM_STAMP := $(APP)/node_modules/.installed

.PHONY: deps venv lint test test-fast test-app app-js appstore demo bench clean

deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v php >/dev/null || missing="$$missing php-cli php-mbstring php-xml"; \
	command -v phpunit >/dev/null || missing="$$missing phpunit"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
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

# The Nextcloud app's JavaScript: installed from package-lock.json, built into js/.
$(NPM_STAMP): $(APP)/package.json $(APP)/package-lock.json
	cd $(APP) && npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

app-js: $(NPM_STAMP)
	cd $(APP) && npm run --silent build

# The app on its own: PHP lint + PHPUnit, JS unit tests against @nextcloud/files 3.x and 4.x.
test-app: deps app-js
	$(MAKE) -C $(APP) test
	cd $(APP) && npm test

test: deps venv lint test-app
	$(BIN)/pytest

# The quick inner loop: no Jupyter, nginx or browser.
test-fast: venv
	$(BIN)/pytest -m "not slow" -q

appstore: app-js
	$(MAKE) -C $(APP) appstore

demo: deps venv
	$(BIN)/python -m sidecar.demo

bench: deps venv
	$(BIN)/python bench/bench.py

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
