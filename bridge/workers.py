"""Several worker processes on the same addresses, for machines with more than one core.

Each worker binds the TCP addresses itself with SO_REUSEPORT, so the kernel spreads new
connections over the workers; the Unix socket is bound once by the parent and inherited.
The parent forwards SIGHUP and SIGTERM, tells systemd READY once every worker listens, and
exits when they have. Each worker keeps its own caches, throttling counts and metrics
(worker i serves metrics on the configured port + i).

A worker that ends before it is ready (a port or file only it needed) stops the start: the
parent ends the others and exits 1, as mysqld exits when part of its start fails. Running
on with fewer workers would hide the cause behind a READY, leave a hole in the admin and
metrics addresses, and under systemd's Restart=on-failure a clean restart is the remedy."""

from __future__ import annotations

import contextlib
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
            os._exit(_run_worker(serve_one, index, shared))
        children[pid] = index
    os.close(ready_w)
    _forward_signals(list(children))
    ready = _await_ready(ready_r, count)
    if len(ready) < count:
        return _failed_start(children, ready, unix)
    systemd.ready(f"{count} workers serving")
    log.info("%d workers ready", len(ready))
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


def _run_worker(
    serve_one: Callable[[int, socket.socket | None], None], index: int, unix: socket.socket | None
) -> int:
    """The worker's exit code: 0 after a clean stop, else what it exited with (1 when an
    exception ended it: the traceback is printed, as a single process would print it)."""
    try:
        serve_one(index, unix)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        import traceback

        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def _await_ready(fd: int, count: int) -> set[int]:
    """The indexes of the workers that said they listen. Each worker holds the pipe's write
    end until it is ready or gone, so the end of the pipe means every worker did one or the
    other: a worker that died is simply not in the set."""
    ready: set[int] = set()
    with os.fdopen(fd, "rb") as pipe:
        while len(ready) < count:
            line = pipe.readline()
            if not line:
                break
            ready.add(int(line))
    return ready


def _failed_start(children: dict[int, int], ready: set[int], unix: Path | None) -> int:
    """Some worker ended before it was ready: say which and how, end the others, exit 1."""
    count = len(children)
    for pid, index in sorted(children.items(), key=lambda c: c[1]):
        if index not in ready:
            _, code = os.waitpid(pid, 0)
            del children[pid]
            log.error("worker %d (pid %d) exited with code %d before it was ready; %d of %d "
                      "workers were ready: stopping them (the worker's error is above)", index,
                      pid, os.waitstatus_to_exitcode(code), len(ready), count)  # fmt: skip
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        os.waitpid(pid, 0)
    if unix is not None and unix.is_socket():
        unix.unlink()
    return 1


def worker_ready(index: int) -> None:
    """Called by worker `index` once it listens: it tells the parent its index."""
    fd = os.environ.pop("MYSQL_AUTH_BRIDGE_READY_FD", None)
    if fd is not None:
        os.write(int(fd), f"{index}\n".encode())
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
