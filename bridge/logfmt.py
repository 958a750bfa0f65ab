"""Logging set-up: the text format for a terminal, or one JSON object a line for journald,
Loki and the like; the process title; and `Log`, a logger or a session's adapter of one."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# A logger, or an adapter that prefixes its lines (a session's 'conn=N').
Log = logging.Logger | logging.LoggerAdapter[Any]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "logger", "message"} (+ "exc" with the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


FORMATTERS: dict[str, logging.Formatter] = {
    "text": logging.Formatter(TEXT_FORMAT),
    "json": JsonFormatter(),
}


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
