# One command per chore. Every target creates the virtualenv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt bench migrate clean web chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) web
	$(BIN)/taskhive up

test: $(STAMP) web chromium
	cd web && npx vitest run
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The mixed workload against the monolith and the ceiling (docs/performance.md);
# `make bench BENCH_ARGS=--quick` for a short run. The wrk foundation run: `python -m bench.run`.
bench: $(STAMP)
	$(BIN)/python -m bench.mixed $(BENCH_ARGS)

migrate: $(STAMP)
	$(BIN)/taskhive migrate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The web UI (web/): npm ci when the lock file changed, API types regenerated from
# the OpenAPI document when the API's code changed, and a build into web/dist
# (with gzip twins of the hashed assets) when any of it changed.
WEB_DEPS := web/node_modules/.package-lock.json
WEB_SRC := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json

web: web/dist/index.html

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web/openapi.json: $(STAMP) $(wildcard serve_app/*.py serve_app/routes/*.py)
	$(BIN)/python web/scripts/openapi.py

web/src/api/schema.d.ts: web/openapi.json $(WEB_DEPS)
	cd web && npx openapi-typescript openapi.json -o src/api/schema.d.ts >/dev/null

web/dist/index.html: $(WEB_DEPS) web/src/api/schema.d.ts $(WEB_SRC)
	cd web && npx tsc --noEmit && npx vite build --logLevel warn
	find web/dist/assets -type f \( -name '*.js' -o -name '*.css' \) -exec gzip -9 -k -f {} +

# Debian's chromium for the end-to-end tests (tests/e2e), when it is not there yet.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
