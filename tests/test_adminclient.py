"""The admin client under --workers does not take the worker count from one reply: every
reply must agree on it and name the worker asked, and a Unix address's admin.sock.N files
are asked too. Real Unix sockets, each answered by a thread as a worker would."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.adminclient import ask
from bridge.config import AdminConfig


class FakeWorker:
    """Answers one JSON line per connection with `reply` (what a worker's admin says)."""

    def __init__(self, path: Path, reply: dict[str, Any]) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.makefile("rb").readline()
                conn.sendall(json.dumps(self.reply).encode() + b"\n")


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Any]:
    made: list[FakeWorker] = []

    def start(index: int, worker: int | None, count: int | None) -> None:
        reply: dict[str, Any] = {"ok": True, "result": index}
        if worker is not None:
            reply.update(worker=worker, workers=count)
        made.append(FakeWorker(tmp_path / f"admin.sock.{index}", reply))

    yield start
    for fake in made:
        fake.sock.close()


def asked(tmp_path: Path, worker: int | None = None) -> list[tuple[int | None, Any, str | None]]:
    config = AdminConfig(listen=f"unix:{tmp_path}/admin.sock")
    answers = ask(config, worker, {"command": "status"})
    return [(a.worker, a.reply and a.reply["result"], a.unavailable) for a in answers]


def test_replies_that_agree_are_all_used(tmp_path: Path, workers: Any) -> None:
    for i in range(3):
        workers(i, i, 3)
    assert asked(tmp_path) == [(0, 0, None), (1, 1, None), (2, 2, None)]


def test_a_first_reply_that_undercounts_does_not_hide_a_worker(
    tmp_path: Path, workers: Any
) -> None:
    """Worker 0 says there is 1 worker; admin.sock.1 is there and answers: it is asked, and
    the disagreement is named instead of a silent answer from worker 0 alone."""
    workers(0, 0, 1)
    workers(1, 1, 2)
    found = asked(tmp_path)
    assert [w for w, _, _ in found] == [0, 1]
    assert found[0] == (0, 0, None)
    assert found[1][1] is None
    assert "answered as worker 1 of 2; the first reply said 1 workers" in str(found[1][2])


def test_a_first_reply_that_overcounts_names_the_missing_worker(
    tmp_path: Path, workers: Any
) -> None:
    workers(0, 0, 3)
    workers(1, 1, 3)
    found = asked(tmp_path)
    assert [(w, r) for w, r, _ in found] == [(0, 0), (1, 1), (2, None)]
    assert "no bridge answers on unix:" in str(found[2][2])


def test_a_reply_from_the_wrong_worker_is_not_used(tmp_path: Path, workers: Any) -> None:
    workers(0, 0, 2)
    workers(1, 0, 2)  # says it is worker 0
    found = asked(tmp_path)
    assert found[1][:2] == (1, None)
    assert "answered as worker 0 of 2" in str(found[1][2])
    assert asked(tmp_path, worker=1)[0][:2] == (1, None)  # --worker 1 checks it too


def test_a_stale_socket_file_beyond_the_count_is_left_out(tmp_path: Path, workers: Any) -> None:
    workers(0, 0, 2)
    workers(1, 1, 2)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "admin.sock.2"))  # bound, never listening: a dead bridge's
    stale.close()
    assert asked(tmp_path) == [(0, 0, None), (1, 1, None)]


def test_a_bridge_without_workers_on_a_workers_address_is_named(
    tmp_path: Path, workers: Any
) -> None:
    workers(0, 0, 2)
    workers(1, None, None)  # no worker fields: a single bridge's reply
    found = asked(tmp_path)
    assert found[1][:2] == (1, None)
    assert "answered as a bridge without --workers; the first reply said 2 workers" in str(
        found[1][2]
    )
