# NextPyter. `make demo` runs the main job on this machine; `make test` runs every test.
# Both install what they need (Debian packages as root, a .venv for Python).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP := nextcloud_app
STAMP := $(VENV)/.installed
NPM_STAMP := $(APP)/node_modules/.installed

.PHONY: deps deps-run venv lint docs test test-fast test-app app-js appstore demo demo-docker bench clean

# Debian packages, as command:package pairs: what runs the stack, and what the tests add.
RUN_DEBS := redis-server:redis-server nginx:nginx
# (phpunit brings php-xml and php-mbstring, which the app's tests need.)
# (dockerd and debootstrap: the tests' own Docker engine and the image they build;
# docker-registry: the registry pagletto pulls from; ip (and tc) and iptables: the network
# namespace that engine runs in, with its firewall.)
TEST_DEBS := $(RUN_DEBS) chromium:chromium wrk:wrk php:php-cli phpunit:phpunit npm:npm node:nodejs \
	dockerd:docker.io docker-registry:docker-registry docker-compose:docker-compose debootstrap:debootstrap ip:iproute2 iptables:iptables nsenter:util-linux \
	redis-sentinel:redis-sentinel
# Installs, with apt, the packages of $(1) whose command is missing.
define apt_ensure
	@missing=""; for pair in $(1); do \
	  command -v "$${pair%%:*}" >/dev/null || [ -x "/usr/sbin/$${pair%%:*}" ] || \
	    missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps-run:
	$(call apt_ensure,$(RUN_DEBS))

deps:
	$(call apt_ensure,$(TEST_DEBS))

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# docs/configuration.md's reference, made from the settings table (nextpyter/common/settings.py);
# tests/unit/test_settings.py fails until it is current.
docs: venv
	$(BIN)/python -m devtools.docs

lint: venv
	$(BIN)/ruff check nextpyter devtools tests bench
	$(BIN)/ruff format --check nextpyter devtools tests bench
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

# The quick inner loop: tests/unit (no process, socket or Redis; a few seconds).
test-fast: venv
	$(BIN)/pytest -q tests/unit

appstore: app-js
	$(MAKE) -C $(APP) appstore

demo: deps-run venv
	$(BIN)/python -m devtools.demo

# The same with the docker backend: a private dockerd and an image built here (as root).
demo-docker: deps-run venv
	$(call apt_ensure,dockerd:docker.io debootstrap:debootstrap)
	NEXTPYTER_DEMO_BACKEND=docker $(BIN)/python -m devtools.demo

# BENCH_ARGS=--quick for a smoke run of each.
bench: deps-run venv $(NPM_STAMP)
	$(call apt_ensure,wrk:wrk dockerd:docker.io debootstrap:debootstrap docker-registry:docker-registry chromium:chromium)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)
	$(BIN)/python bench/bench_docker.py $(BENCH_ARGS)
	$(BIN)/python bench/bench_pull.py $(BENCH_ARGS)
	$(MAKE) -C $(APP) bench

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
