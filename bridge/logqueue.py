"""Log lines formatted and written off the event loop.

The event loop only makes the LogRecord and puts it on a queue; a writer thread formats it
and writes it to the real handlers (stderr, journald), in batches (bridge/batching.py): a
plain stream handler gets one write per batch. `stop()` writes what is queued before it
returns, so a drain on SIGTERM loses nothing. Started in the process that runs the event
loop (after --workers forked), since a thread does not survive a fork.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import threading
from typing import Any

from bridge.batching import Batcher


class _DeferredFormatHandler(logging.handlers.QueueHandler):
    """A QueueHandler that leaves formatting to the listener thread: the record goes on the
    queue as it is (its arguments are strings and numbers), only an exception's traceback
    is turned into text here, while it still exists."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        return record


_STOP = logging.makeLogRecord({"msg": "stop"})  # the writer's end, never written


class _BatchWriter:
    """The writer thread: records in batches to every handler, each with its own level."""

    def __init__(
        self, records: queue.SimpleQueue[logging.LogRecord], handlers: list[logging.Handler]
    ) -> None:
        self._records = records
        self._handlers = handlers
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._records.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        batches = Batcher(self._records)
        while True:
            batch = batches.take(None)
            stop = any(record is _STOP for record in batch)
            self.write([record for record in batch if record is not _STOP])
            if stop:
                return

    def write(self, records: list[logging.LogRecord]) -> None:
        for handler in self._handlers:
            wanted = [r for r in records if r.levelno >= handler.level]
            if not wanted:
                continue
            if type(handler) is logging.StreamHandler:
                _write_stream(handler, wanted)
            else:
                for record in wanted:
                    handler.handle(record)


def _write_stream(handler: logging.StreamHandler[Any], records: list[logging.LogRecord]) -> None:
    """StreamHandler.emit for a batch: the lines joined, one write and one flush."""
    lines: list[str] = []
    for record in records:
        if not handler.filter(record):
            continue
        try:
            lines.append(handler.format(record) + handler.terminator)
        except Exception:  # as emit does: say so on stderr, go on with the others
            handler.handleError(record)
    if not lines:
        return
    handler.acquire()
    try:
        handler.stream.write("".join(lines))
        handler.flush()
    except Exception:
        handler.handleError(records[-1])
    finally:
        handler.release()


class LogQueue:
    def __init__(self, writer: _BatchWriter, root_handlers: list[logging.Handler]) -> None:
        self._writer = writer
        self._handlers = root_handlers

    @classmethod
    def start(cls) -> LogQueue:
        """Move the root logger's handlers behind a queue and a writer thread."""
        root = logging.getLogger()
        handlers = list(root.handlers)
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        writer = _BatchWriter(records, handlers)
        for handler in handlers:
            root.removeHandler(handler)
        root.addHandler(_DeferredFormatHandler(records))
        writer.start()
        return cls(writer, handlers)

    def stop(self) -> None:
        """Write every queued line, then put the handlers back on the root logger."""
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, _DeferredFormatHandler):
                root.removeHandler(handler)
        self._writer.stop()
        for handler in self._handlers:
            root.addHandler(handler)
            handler.flush()
