# Everything runs from a local virtualenv that the targets create on first use.
# `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck static pytest fmt migrate up down compose-test bench bench-tools soak clean web-assets

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(INSTALLED) ## Create the virtualenv and install everything

run: $(INSTALLED) ## Run emulator, both services and the gateway (127.0.0.1:8080) on SQLite
	$(PY) -m devstack run

test: lint typecheck static pytest ## Lint, type-check, static checks, then the whole test suite

lint: $(INSTALLED) ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED) ## mypy --strict over every package
	$(BIN)/mypy shared quiz_service audio_service jservice_emulator devstack testkit tests bench

static: $(INSTALLED) ## docker-compose config, hadolint, nginx -t on the gateway template
	$(PY) -m devstack.static_checks

pytest: $(INSTALLED) ## The test suite (real PostgreSQL from TEST_DATABASE_URL, real nginx)
	$(BIN)/pytest

web-assets: $(INSTALLED) ## Name the page's files after their content (run after editing web/)
	$(PY) -m devstack.web_assets

fmt: $(INSTALLED) ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(INSTALLED) ## Apply both services' migrations to QUIZ_/AUDIO_DATABASE_URL
	$(PY) -m quiz_service migrate
	$(PY) -m audio_service migrate

up: ## Start the docker-compose stack (PostgreSQL, emulator, services, gateway on 8080)
	$(COMPOSE) up -d --build

down: ## Stop the docker-compose stack (the database volume is kept)
	$(COMPOSE) down

# Needs root (rootful podman); installs podman, runc, netavark, aardvark-dns, uidmap,
# iptables and mmdebstrap when missing. COMPOSE_TEST_ARGS go to pytest (e.g. -k restart).
compose-test: $(INSTALLED) ## The compose stack for real on podman, with stand-in base images
	$(PY) -m devstack.composetest $(COMPOSE_TEST_ARGS)

# The Debian packages the benchmarks run (command:package): installed here when missing, never
# by the benchmark itself, which stops with this target's name when one is still missing.
BENCH_TOOLS := lame:lame wrk:wrk nginx:nginx-light
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench-tools: ## Install the benchmarks' Debian packages (lame, wrk, nginx) when missing
	@missing=""; for pair in $(BENCH_TOOLS); do \
	    command -v $${pair%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${pair%%:*} ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends$$missing; \
	fi

bench: $(INSTALLED) bench-tools ## Benchmarks (BENCH_ARGS=--quick etc.): bench/results/latest.md, .png
	$(BIN)/pip install --quiet -e '.[bench]'
	$(PY) -m bench $(BENCH_ARGS)

soak: $(INSTALLED) ## The long mixed-load test (not in CI)
	$(BIN)/pytest -m soak -p no:cacheprovider tests/soak

clean: ## Remove local data, logs and the virtualenv
	rm -rf var $(VENV)
