"""Writer threads take records in batches: one wake-up and one write for many records."""

import io
import logging
import queue
import threading
import time

from bridge.batching import Batcher
from bridge.logqueue import LogQueue


def test_a_lone_record_is_taken_at_once_and_a_quick_one_waits_for_the_delay() -> None:
    source: queue.SimpleQueue[int] = queue.SimpleQueue()
    batches = Batcher(source, delay=0.3)
    source.put(1)
    started = time.monotonic()
    assert batches.take(None) == [1]  # the writer was idle: no delay
    assert time.monotonic() - started < 0.2
    source.put(2)

    def two_more() -> None:
        source.put(3)
        source.put(4)

    late = threading.Timer(0.05, two_more)
    late.start()
    assert batches.take(None) == [2, 3, 4]  # within the delay: others joined it
    assert time.monotonic() - started >= 0.3
    late.join()
    assert batches.take(0.01) == []  # nothing came in time


def test_a_waiting_batch_is_taken_whole() -> None:
    source: queue.SimpleQueue[int] = queue.SimpleQueue()
    for n in range(5):
        source.put(n)
    assert Batcher(source).take(None) == [0, 1, 2, 3, 4]


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_a_stream_handler_gets_one_write_per_batch_with_its_level_and_filters() -> None:
    stream, quiet = CountingStream(), CountingStream()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(lambda record: "secret" not in record.getMessage())
    warnings_only = logging.StreamHandler(quiet)
    warnings_only.setLevel(logging.WARNING)
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers[:] = [handler, warnings_only]
    root.setLevel(logging.INFO)
    try:
        logs = LogQueue.start()
        log = logging.getLogger("bridge.test")
        for i in range(200):
            log.info("line %d", i)
        log.info("a secret line")
        log.warning("careful")
        logs.stop()
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert lines == [f"INFO line {i}" for i in range(200)] + ["WARNING careful"]
    assert stream.writes < 20  # batches, not a write per line
    assert quiet.getvalue() == "careful\n"  # no formatter: the message alone


def test_a_busy_writer_waits_longer_until_a_batch_is_small_again() -> None:
    source: queue.SimpleQueue[int] = queue.SimpleQueue()
    batches = Batcher(source, delay=0.01, busy_delay=0.3, busy_batch=3)
    for n in range(3):
        source.put(n)
    assert batches.take(None) == [0, 1, 2]  # a burst: not yet busy
    for n in range(3):
        source.put(n)
    started = time.monotonic()
    assert batches.take(None) == [0, 1, 2]
    assert time.monotonic() - started < 0.2
    source.put(3)  # two big batches in a row: busy, the next write waits 0.3 s
    started = time.monotonic()
    assert batches.take(None) == [3]
    assert time.monotonic() - started >= 0.25
    source.put(4)  # the last batch was small: back to the short delay
    started = time.monotonic()
    assert batches.take(None) == [4]
    assert time.monotonic() - started < 0.2
