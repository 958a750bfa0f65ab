"""One record, one line: the text log's message and JSON lines escape what breaks lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bridge.logfmt import FORMATTERS, json_line, name_worker, one_line, process_fields


def test_one_line_escapes_controls_and_separators() -> None:
    assert one_line("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert one_line("\x1b[31mred\x7f\x85\x00") == "\\x1b[31mred\\x7f\\x85\\x00"
    assert one_line("x\u2028y\u2029z") == "x\\u2028y\\u2029z"
    fullwidth = "\uff42\uff4f\uff42"
    assert (
        one_line(f"plain 'ü' {fullwidth}") == f"plain 'ü' {fullwidth}"
    )  # printable text stays as it is


def test_json_line_splits_nowhere_and_reads_back() -> None:
    value = {"user": "a\nb\x85c\u2028d\u2029e\x1b"}
    line = json_line(value)
    assert line.splitlines() == [line]
    assert json.loads(line) == value


def test_formatters_keep_a_message_on_one_line() -> None:
    record = logging.LogRecord(
        "bridge.session", logging.INFO, "", 0, "db %s", ("x\ny\u2028",), None
    )
    for formatter in FORMATTERS.values():
        text = formatter.format(record)
        assert text.splitlines() == [text], text


@pytest.fixture
def worker_1() -> Iterator[None]:
    """This process as worker 1 of `serve --workers N`, a single process again after."""
    name_worker(1)
    yield
    name_worker(None)


def _session_line() -> logging.LogRecord:
    return logging.LogRecord("bridge.session", logging.INFO, "", 0, "conn=%d hello", (3,), None)


def test_a_worker_is_named_before_the_message_in_text_and_after_logger_in_json(
    worker_1: None,
) -> None:
    text = FORMATTERS["text"].format(_session_line())
    assert text.endswith(" INFO bridge.session: worker=1 conn=3 hello"), text
    entry = json.loads(FORMATTERS["json"].format(_session_line()))
    assert list(entry) == ["ts", "level", "logger", "worker", "message"]
    assert (entry["worker"], entry["message"]) == (1, "conn=3 hello")
    assert process_fields() == {"worker": 1}


def test_a_single_process_names_no_worker() -> None:
    name_worker(3)
    name_worker(None)  # as serve with one process never calls it: back to the plain format
    text = FORMATTERS["text"].format(_session_line())
    assert text.endswith(" INFO bridge.session: conn=3 hello") and "worker" not in text, text
    entry = json.loads(FORMATTERS["json"].format(_session_line()))
    assert list(entry) == ["ts", "level", "logger", "message"]
    assert process_fields() == {}
