# mysql-auth-bridge: make demo | make test | make check | make bench
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: deps demo test check lint format typecheck bench clean

deps:
	@scripts/install-deps

demo:  ## a throwaway MariaDB with the bridge in front, and client commands to try
	scripts/demo

test:  ## unit and integration tests against real servers and clients
	scripts/test $(PYTEST_ARGS)

check: deps  ## lint, format and types
	$(VENV)/bin/ruff check bridge tests bench
	$(VENV)/bin/ruff format --check bridge tests bench
	$(VENV)/bin/mypy

format: deps
	$(VENV)/bin/ruff format bridge tests bench
	$(VENV)/bin/ruff check --fix bridge tests bench

bench: deps  ## relay and login-rate benchmarks; prints ratios against a direct connection
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
