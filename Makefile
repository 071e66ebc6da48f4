# The two set-up commands on a fresh machine are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench lint format install init clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed

init: install
	$(PY) -m flask --app app init

run: install
	$(PY) app.py

# The suite on SQLite and on PostgreSQL at once (a throw-away server; tests/engines.py).
test: install
	$(PY) tests/engines.py

# The consume bench on a fresh shop, then the big-data phase (two years of a busy shop, made
# once by bench/bigdata.py and kept in bench/.cache/).
bench: install
	$(PY) bench/bench.py
	$(PY) bench/bench.py --big

.PHONY: bigdata
bigdata: install
	$(PY) bench/bigdata.py

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# bench/crash.py: 100 cycles of SIGKILL and restart under 8 clients (tests/test_crash.py runs 10).
.PHONY: crash
crash: install
	$(PY) bench/crash.py --cycles 100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
