# PayMe — two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed


# make run: development defaults (DEBUG, simulator). Any of these can be overridden in .env or
# the environment.
RUN_ENV := DEBUG=$${DEBUG:-1} MPESA_ENV=$${MPESA_ENV:-simulator}

.PHONY: run test install migrate demo serve lint ci bench reconcile worker beat clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput

demo: migrate
	$(RUN_ENV) $(PY) manage.py seed_demo

serve: demo
	@echo "Serving http://127.0.0.1:8000  (admin: /admin/, API docs: /api/docs, simulator: /simulator/daraja/)"
	@echo "with a Celery worker and beat beside it (embedded broker in .run/); Ctrl-C stops all of it"
	$(RUN_ENV) $(PY) manage.py runstack 127.0.0.1:8000

run: serve

test: install
	$(PY) -m pytest -q -n 2 --ds=payme.settings_test $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

reconcile: install
	$(RUN_ENV) $(PY) manage.py reconcile_stk_pushes

# One of each, on their own (production runs them as separate services; see README).
worker: install
	$(RUN_ENV) $(PY) -m celery -A payme worker --pool threads --concurrency 16 --loglevel INFO

beat: install
	$(RUN_ENV) $(PY) -m celery -A payme beat --loglevel INFO --schedule .run/celerybeat-schedule

bench: install
	$(PY) bench/run.py

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) db.sqlite3 .run
