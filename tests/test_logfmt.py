"""One record, one line: the text log's message and JSON lines escape what breaks lines."""

from __future__ import annotations

import json
import logging

from bridge.logfmt import FORMATTERS, json_line, one_line


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
