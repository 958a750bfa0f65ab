"""How serve ends when its event loop raises: a changed environment in one line; anything
else logged as CRITICAL with its traceback, through the log format, naming the worker."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bridge.cli import _run_logged
from bridge.config import ConfigError
from bridge.logfmt import name_worker, setup_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    name_worker(None)
    root.handlers[:] = handlers
    root.setLevel(level)


def boom() -> None:
    raise RuntimeError("boom in the loop")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_unexpected_error_is_logged_with_its_worker_and_traceback(
    fmt: str, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    name_worker(2)
    setup_logging("info", fmt)
    with pytest.raises(SystemExit) as ended:
        _run_logged(boom)
    assert ended.value.code == 1
    err = capsys.readouterr().err
    if fmt == "text":  # the labelled line, then the traceback on its own lines
        first, rest = err.split("\n", 1)
        assert first.endswith(" CRITICAL bridge: worker=2 serve ended by an unexpected error")
        assert rest.startswith("Traceback") and "RuntimeError: boom in the loop" in rest, err
    else:
        (line,) = err.splitlines()  # one line, whatever the traceback's length
        entry = json.loads(line)
        assert (entry["level"], entry["worker"]) == ("critical", 2), entry
        assert entry["message"] == "serve ended by an unexpected error"
        assert "RuntimeError: boom in the loop" in entry["exc"], entry


@pytest.mark.parametrize("error", [ConfigError("bridge.yaml: gone"), OSError("port in use")])
def test_a_changed_environment_is_one_plain_line(
    error: Exception, restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("info", "text")

    def fail() -> None:
        raise error

    with pytest.raises(SystemExit) as ended:
        _run_logged(fail)
    assert ended.value.code == 1
    assert capsys.readouterr().err == f"mysql-auth-bridge: {error}\n"
