# The two commands of the README: `make demo` and `make test`. Both install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bootstrap bench

demo:
	VENV=$(VENV) scripts/bootstrap.sh demo
	$(VENV)/bin/minewatch demo

test:
	VENV=$(VENV) scripts/bootstrap.sh test
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench:
	VENV=$(VENV) scripts/bootstrap.sh test
	for b in bench/*.py; do $(PY) $$b || exit 1; done
