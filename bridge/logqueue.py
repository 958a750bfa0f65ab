"""Log lines formatted and written off the event loop.

The event loop only makes the LogRecord and puts it on a queue; a QueueListener thread
formats it and writes it to the real handlers (stderr, journald). `stop()` writes what is
queued before it returns, so a drain on SIGTERM loses nothing. Started in the process that
runs the event loop (after --workers forked), since a thread does not survive a fork.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue


class _DeferredFormatHandler(logging.handlers.QueueHandler):
    """A QueueHandler that leaves formatting to the listener thread: the record goes on the
    queue as it is (its arguments are strings and numbers), only an exception's traceback
    is turned into text here, while it still exists."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        return record


class LogQueue:
    def __init__(
        self, listener: logging.handlers.QueueListener, root_handlers: list[logging.Handler]
    ) -> None:
        self._listener = listener
        self._handlers = root_handlers

    @classmethod
    def start(cls) -> LogQueue:
        """Move the root logger's handlers behind a queue and a writer thread."""
        root = logging.getLogger()
        handlers = list(root.handlers)
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, *handlers, respect_handler_level=True)
        for handler in handlers:
            root.removeHandler(handler)
        root.addHandler(_DeferredFormatHandler(records))
        listener.start()
        return cls(listener, handlers)

    def stop(self) -> None:
        """Write every queued line, then put the handlers back on the root logger."""
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, _DeferredFormatHandler):
                root.removeHandler(handler)
        self._listener.stop()
        for handler in self._handlers:
            root.addHandler(handler)
            handler.flush()
