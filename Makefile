# mysql-auth-bridge: make deps | demo | test | conformance | check (lint, typecheck) | format | bench | mutation
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=
PYDIRS := bridge sandbox tests bench

PREFIX ?= /usr
DESTDIR ?=
UNITDIR ?= /lib/systemd/system
# make install: the bridge in its own virtualenv, as the Debian package has it (Debian 12's
# python3 is externally managed, PEP 668), and $(PREFIX)/bin/mysql-auth-bridge, the path the
# systemd unit runs, linked to it.
INSTALL_VENV ?= /opt/mysql-auth-bridge
SYSTEM_PYTHON ?= /usr/bin/python3

.PHONY: deps demo test conformance check lint format typecheck bench mutation clean install deb

deps:
	@scripts/install-deps

demo:  ## a throwaway MariaDB with the bridge in front, and client commands to try
	scripts/demo

test:  ## unit and integration tests against real servers and clients
	scripts/test $(PYTEST_ARGS)

conformance:  ## client libraries' own test suites, directly and through the bridge (docs/clients.md)
	scripts/conformance

check: lint typecheck  ## lint, format check and types, with the existing .venv (no installs)

lint:  ## ruff's lints and format check
	$(VENV)/bin/ruff check $(PYDIRS)
	$(VENV)/bin/ruff format --check $(PYDIRS)

typecheck:  ## mypy, strict
	$(VENV)/bin/mypy

format:  ## rewrite the code in ruff's format and apply ruff's safe fixes
	$(VENV)/bin/ruff format $(PYDIRS)
	$(VENV)/bin/ruff check --fix $(PYDIRS)

mutation: deps  ## mutation testing of the pure core (mutmut): per-module scores, >= 90% each
	scripts/mutation

bench: deps  ## relay and login-rate benchmarks; prints ratios against a direct connection
	$(PY) bench/run.py

install:  ## a virtualenv in /opt, /usr/bin/mysql-auth-bridge, units, sysusers/tmpfiles, PAM, examples
	$(SYSTEM_PYTHON) -m venv $(DESTDIR)$(INSTALL_VENV)
	$(DESTDIR)$(INSTALL_VENV)/bin/pip install -q --disable-pip-version-check .
	# staged (DESTDIR): the virtualenv's scripts name their interpreter by its final path
	test -z "$(DESTDIR)" || grep -rlI --null "$(DESTDIR)$(INSTALL_VENV)" "$(DESTDIR)$(INSTALL_VENV)" \
	  | xargs -0 -r sed -i "s#$(DESTDIR)$(INSTALL_VENV)#$(INSTALL_VENV)#g"
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -sf $(INSTALL_VENV)/bin/mysql-auth-bridge $(DESTDIR)$(PREFIX)/bin/mysql-auth-bridge
	install -D -m 0644 deploy/systemd/mysql-auth-bridge.service $(DESTDIR)$(UNITDIR)/mysql-auth-bridge.service
	install -D -m 0644 deploy/systemd/mysql-auth-bridge.socket $(DESTDIR)$(UNITDIR)/mysql-auth-bridge.socket
	install -D -m 0644 deploy/sysusers.d/mysql-auth-bridge.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/mysql-auth-bridge.conf
	install -D -m 0644 deploy/tmpfiles.d/mysql-auth-bridge.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/mysql-auth-bridge.conf
	install -D -m 0644 deploy/pam.d/mysql-auth-bridge $(DESTDIR)/etc/pam.d/mysql-auth-bridge
	install -d -m 0750 $(DESTDIR)/etc/mysql-auth-bridge
	for f in deploy/examples/*.yaml; do \
	  install -D -m 0640 $$f $(DESTDIR)$(PREFIX)/share/doc/mysql-auth-bridge/examples/$$(basename $$f); done
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/mysql-auth-bridge/README.md
	cp -r docs $(DESTDIR)$(PREFIX)/share/doc/mysql-auth-bridge/

deb:  ## dist/mysql-auth-bridge_<version>_<arch>.deb: a virtualenv under /opt, units, PAM, docs
	scripts/build-deb dist

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
