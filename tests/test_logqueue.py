"""Log lines are formatted and written by the listener thread; stop() writes them all."""

import logging
import threading

from bridge.logqueue import LogQueue


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((self.format(record), threading.current_thread().name))


def test_lines_are_written_off_the_calling_thread_and_none_is_lost() -> None:
    root, recorder = logging.getLogger(), Recorder()
    saved = root.handlers[:]
    root.handlers[:] = [recorder]
    level = root.level
    root.setLevel(logging.INFO)
    try:
        logs = LogQueue.start()
        for i in range(500):
            logging.getLogger("bridge.test").info("line %d of %s", i, "many")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("bridge.test").exception("failed")
        logs.stop()
        assert root.handlers == [recorder]  # put back as it was
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    texts = [text for text, _ in recorder.lines]
    assert texts[:500] == [f"line {i} of many" for i in range(500)]
    assert "ValueError: boom" in texts[500]  # the traceback, taken while it existed
    assert {thread for _, thread in recorder.lines} != {threading.current_thread().name}
