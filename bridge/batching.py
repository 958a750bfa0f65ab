"""Taking records off a queue in batches, for the writer threads (log lines, audit records).

A writer thread that woke for every record cost the event loop more than the record itself:
each wake-up is a futex call and a hand-over of the GIL, and each write a system call. So
a writer writes at most once every BATCH_DELAY (10 ms): a record that comes while the
writer has been idle for longer is written at once; one that comes sooner waits until the
delay has passed since the last write, and the records of that moment join it: a lone
record in a quiet bridge is not held back.

When busy (the last two writes held BUSY_BATCH records or more each: a steady flow, not
a burst such as the lines of start-up), the delay is BUSY_DELAY (100 ms) until a write
holds fewer again. Every time a writer thread wakes, it waits for
the GIL while the event loop (uvloop releases and retakes the GIL around each callback)
wakes it again and again, a futex call each time; fewer wake-ups under load are what keep
logging cheap. Measured with a login loop (bench/connect.lua against bench/run.py's plain
configuration, log level INFO and the audit file on, about 2,000 logins/s, the bridge's
CPU per thread from /proc; docs/benchmarks.md): the log line and audit record of a login
cost 60 µs of CPU with a 10 ms delay, 38 with 50 ms and 22 with 100 ms, against about
370 µs for the login itself.
"""

from __future__ import annotations

import contextlib
import queue
import time
from typing import Generic, TypeVar

T = TypeVar("T")
BATCH_DELAY = 0.01  # seconds
BUSY_DELAY = 0.1
BUSY_BATCH = 8
MAX_BATCH = 10_000


class Batcher(Generic[T]):
    def __init__(
        self, source: queue.SimpleQueue[T], delay: float = BATCH_DELAY,
        busy_delay: float = BUSY_DELAY, busy_batch: int = BUSY_BATCH,
    ) -> None:  # fmt: skip
        self.source = source
        self.quiet_delay = self.delay = delay
        self.busy_delay = busy_delay
        self.busy_batch = busy_batch
        self._last = -max(delay, busy_delay)  # time.monotonic() of the last batch taken
        self._big = 0  # how many batches in a row held busy_batch records or more

    def take(self, timeout: float | None) -> list[T]:
        """The records queued now, waiting up to `timeout` (None: for ever) for the first
        one, then until `delay` after the last batch; [] if none came in time. Two batches
        in a row of `busy_batch` or more make the next delay `busy_delay`."""
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
        self._big = self._big + 1 if len(items) >= self.busy_batch else 0
        self.delay = self.busy_delay if self._big >= 2 else self.quiet_delay
        return items
