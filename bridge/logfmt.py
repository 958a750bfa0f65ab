"""Logging set-up: the text format for a terminal, or one JSON object a line for journald,
Loki and the like; the process title; and `Log`, a logger or a session's adapter of one."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# A logger, or an adapter that prefixes its lines (a session's 'conn=N').
Log = logging.Logger | logging.LoggerAdapter[Any]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What can end or rewrite a line: C0 and C1 controls (newlines, ANSI escapes), DEL and the
# Unicode line and paragraph separators. A message can carry text a client chose (an
# upstream error naming the database it asked for, a user name): escaped, so that one
# record stays one line and a terminal shows it as it is.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Line breaks to str.splitlines() that JSON leaves as they are (ensure_ascii=False).
_JSON_BREAKS = re.compile("[\x85\u2028\u2029]")


def _escape(found: re.Match[str]) -> str:
    ch = found[0]
    return _SHORT.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def one_line(text: str) -> str:
    """`text` with every control character and line separator escaped (\\n, \\x1b ...)."""
    return _CONTROL.sub(_escape, text)


def json_line(data: object, separators: tuple[str, str] = (",", ":")) -> str:
    """One JSON object on one line for any reader: also the separators JSON may leave raw
    (U+0085, U+2028, U+2029), which Python's str.splitlines() and some log shippers break
    lines at, written as \\u escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=separators)
    return _JSON_BREAKS.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


# This process's worker index under `serve --workers N` (N > 1), as {"worker": i}, or {}:
# set once, by the worker as it starts (name_worker), read where lines and audit records
# are formatted (off the event loop), so that naming the worker costs the loop nothing.
_PROCESS: dict[str, int] = {}


def process_fields() -> Mapping[str, int]:
    """{"worker": i} in a worker of `serve --workers N` (N > 1), else {}: the fields a log
    line or an audit record of this process carries besides its own."""
    return _PROCESS


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, the message on one line (a traceback, at DEBUG, follows on its own)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "message"} (+ "worker" after "logger" under --workers, +
    "exc" with the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            **_PROCESS,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json_line(entry, separators=(", ", ": "))


FORMATTERS: dict[str, logging.Formatter] = {
    "text": TextFormatter(TEXT_FORMAT),
    "json": JsonFormatter(),
}


def name_worker(index: int | None) -> None:
    """From now on this process's log lines and audit records name worker `index` (None:
    no worker field, a single process). The text format gets 'worker=i' before the message."""
    _PROCESS.clear()
    if index is not None:
        _PROCESS["worker"] = index
    text = FORMATTERS["text"]
    logging.Formatter.__init__(text, text_format(index))


def text_format(worker: int | None) -> str:
    """TEXT_FORMAT, with 'worker=i ' before the message in worker i."""
    if worker is None:
        return TEXT_FORMAT
    return TEXT_FORMAT.replace("%(message)s", f"worker={worker} %(message)s")


def setup_logging(level: str, fmt: str = "text") -> None:
    # Neither format shows the caller, the thread or the process: do not look them up for
    # every record (a walk up the stack and a getpid() system call per log line), as the
    # logging HOWTO's "Optimization" section says.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FORMATTERS[fmt])
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))


def set_process_title(title: str) -> bool:
    """'mysql-auth-bridge: serve /etc/...' in ps and top, when setproctitle is installed."""
    try:
        from setproctitle import setproctitle
    except ImportError:
        return False
    setproctitle(f"mysql-auth-bridge: {title}")
    return True
