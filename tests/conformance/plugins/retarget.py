"""A pytest plugin for suites that hard-code the server's address in module globals `host` and
`port` (PyMySQL's tests/test_auth.py): point them at $CONFORMANCE_HOST:$CONFORMANCE_PORT."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    host, port = os.environ["CONFORMANCE_HOST"], int(os.environ["CONFORMANCE_PORT"])
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and hasattr(module, "host") and hasattr(module, "port"):
            module.host, module.port = host, port
