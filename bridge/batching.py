"""Taking records off a queue in batches, for the writer threads (log lines, audit records).

A writer thread that woke for every record cost the event loop more than the record itself:
each wake-up is a futex call and a hand-over of the GIL, and each write a system call. So
a writer writes at most once every BATCH_DELAY: a record that comes while the writer has
been idle for longer is written at once; one that comes sooner waits until BATCH_DELAY has
passed since the last write, and the records of that moment join it. Under a login loop
that is one wake-up and one write for many records; a lone record is never held back.
"""

from __future__ import annotations

import contextlib
import queue
import time
from typing import Generic, TypeVar

T = TypeVar("T")
BATCH_DELAY = 0.01  # seconds
MAX_BATCH = 10_000


class Batcher(Generic[T]):
    def __init__(self, source: queue.SimpleQueue[T], delay: float = BATCH_DELAY) -> None:
        self.source = source
        self.delay = delay
        self._last = -delay  # time.monotonic() of the last batch taken

    def take(self, timeout: float | None) -> list[T]:
        """The records queued now, waiting up to `timeout` (None: for ever) for the first
        one, then until `delay` after the last batch; [] if none came in time."""
        try:
            items = [self.source.get(timeout=timeout)]
        except queue.Empty:
            return []
        wait = self._last + self.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        with contextlib.suppress(queue.Empty):
            while len(items) < MAX_BATCH:
                items.append(self.source.get_nowait())
        self._last = time.monotonic()
        return items
