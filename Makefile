# Quick start: `make run` (embedded SQLite + filesystem broker) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PORT ?= 8000
SITE_URL ?= http://127.0.0.1:$(PORT)
export PORT SITE_URL

.PHONY: install run test lint format clean mutation

# axe-core (accessibility checks in the browser tests), when npm is there.
node_modules/.package-lock.json: package.json package-lock.json
	if command -v npm >/dev/null; then npm ci --silent --no-audit --no-fund; fi

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py load_eccp_demo
	$(BIN)/python manage.py ensure_admin
	@echo "Staff console: $(SITE_URL)/staff/"
	@echo "Admin: $(SITE_URL)/admin/"
	@echo "Starting the web server and a Celery worker (Ctrl-C stops both)..."
	$(BIN)/honcho --procfile Procfile --app-root . start --port $(PORT)

test: install node_modules/.package-lock.json
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

# Mutation testing of the guarding modules (docs/mutation-testing.md; a full run took 83 minutes on
# 2 shared cores): writes docs/mutation-survivors.md. Not part of .ci/run. Needs DATABASE_URL on
# PostgreSQL. After new tests: .venv/bin/python tools/mutation.py --survivors (minutes).
mutation: install
	rm -rf mutants
	$(BIN)/python tools/mutation.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var/db.sqlite3* var/celery mutants
