"""Taking records off a queue in batches, for the writer threads (log lines, audit records).

A writer thread that woke for every record cost the event loop more than the record itself:
each wake-up is a futex call and a hand-over of the GIL, and each write a system call. So
the thread sleeps until a first record comes, then lets BATCH_DELAY pass so that the records
of that moment join it, and writes them all at once: at most 1/BATCH_DELAY wake-ups a
second under any load, and a record reaches its file within about BATCH_DELAY.
"""

from __future__ import annotations

import contextlib
import queue
import time
from typing import TypeVar

T = TypeVar("T")
BATCH_DELAY = 0.01  # seconds
MAX_BATCH = 10_000


def take_batch(
    source: queue.SimpleQueue[T], timeout: float | None, delay: float = BATCH_DELAY
) -> list[T]:
    """The records queued now, waiting up to `timeout` (None: for ever) for the first one
    and then `delay` for others to join it; [] if none came in time."""
    try:
        items = [source.get(timeout=timeout)]
    except queue.Empty:
        return []
    if delay > 0 and source.empty():
        time.sleep(delay)
    with contextlib.suppress(queue.Empty):
        while len(items) < MAX_BATCH:
            items.append(source.get_nowait())
    return items
