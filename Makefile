# The two commands: `make run` serves the portal on the embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA := $(CURDIR)/var
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000

export QPORTAL_DATA_DIR ?= $(DATA)

.PHONY: run test lint manage install install-test chromium services migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Secrets for the embedded default are generated once, kept in var/ (git-ignored), never printed.
$(DATA)/secret_key: | $(BIN)/python
	mkdir -p $(DATA) && umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > $@

$(DATA)/fernet_keys: $(VENV)/.installed
	mkdir -p $(DATA) && umask 077 && $(BIN)/python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" > $@

RUN_ENV := QPORTAL_SECRET_KEY_FILE=$(DATA)/secret_key QPORTAL_FERNET_KEYS_FILE=$(DATA)/fernet_keys

migrate: install $(DATA)/secret_key $(DATA)/fernet_keys
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput

run: migrate
	$(RUN_ENV) $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

# Any management command with the embedded default's settings: make manage ARGS="create_api_key alice"
manage: migrate
	$(RUN_ENV) $(BIN)/python manage.py $(ARGS)

# Debian's Chromium for the browser tests (Playwright drives it; no browser is downloaded).
chromium:
	@[ -x /usr/bin/chromium ] || ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium)

# The production-mode tests use the machine's PostgreSQL and Redis; start them if they are down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || ($(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true)
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || ($(SUDO) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no || true)

# ruff, then the import contracts of .importlinter (layers: executors stand alone, accounts <- profiles <- jobs).
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

test: install-test chromium services lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) $(DATA)
