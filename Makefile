# The two commands of the README: `make demo` and `make test`. Both install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bootstrap bench

demo:
	VENV=$(VENV) scripts/bootstrap.sh demo
	$(VENV)/bin/minewatch demo

test:
	VENV=$(VENV) scripts/bootstrap.sh test
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The lint gate: any finding fails `make test` before the tests run.
lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench:
	VENV=$(VENV) scripts/bootstrap.sh test
	for b in bench/*.py; do $(PY) $$b || exit 1; done
