"""Several worker processes on the same addresses, for machines with more than one core.

Each worker binds the TCP addresses itself with SO_REUSEPORT, so the kernel spreads new
connections over the workers; the Unix socket is bound once by the parent and inherited.
The parent forwards SIGHUP and SIGTERM, tells systemd READY once every worker listens, and
exits when they have. Each worker keeps its own caches, throttling counts and metrics
(worker i serves metrics on the configured port + i)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from bridge import systemd
from bridge.runtime import Runtime

log = logging.getLogger("bridge.workers")


def _unix_listener(path: Path) -> socket.socket:
    if path.is_socket():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o777)  # noqa: S103 - like mysqld.sock: authentication decides
    sock.listen(1024)
    return sock


def run_workers(
    runtime: Runtime, count: int, serve_one: Callable[[int, socket.socket | None], None]
) -> int:
    """Fork `count` workers running serve_one(index, unix_socket); wait for them."""
    unix = runtime.config.listen.unix
    shared = _unix_listener(unix) if unix is not None else None
    ready_r, ready_w = os.pipe()
    children: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(ready_r)
            os.environ["MYSQL_AUTH_BRIDGE_READY_FD"] = str(ready_w)
            try:
                serve_one(index, shared)
            finally:
                os._exit(0)
        children[pid] = index
    os.close(ready_w)
    _forward_signals(list(children))
    _await_ready(ready_r, count)
    systemd.ready(f"{count} workers serving")
    log.info("%d workers ready", count)
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        children.pop(pid, None)
        status = status or os.waitstatus_to_exitcode(code)
    if unix is not None and unix.is_socket():
        unix.unlink()
    return status


def _await_ready(fd: int, count: int) -> None:
    seen = 0
    with os.fdopen(fd, "rb") as pipe:
        while seen < count and pipe.read(1):
            seen += 1


def worker_ready() -> None:
    """Called by a worker once it listens."""
    fd = os.environ.pop("MYSQL_AUTH_BRIDGE_READY_FD", None)
    if fd is not None:
        os.write(int(fd), b"1")
        os.close(int(fd))


def _forward_signals(pids: list[int]) -> None:
    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            systemd.reloading()
        elif signum == signal.SIGTERM:
            systemd.stopping()
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                continue
        if signum == signal.SIGHUP:
            systemd.ready("workers reloading their configuration")

    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    sys.stdout.flush()
