"""Several worker processes on the same addresses, for machines with more than one core.

Each worker binds the TCP addresses itself with SO_REUSEPORT, so the kernel spreads new
connections over the workers; the Unix socket is bound once by the parent and inherited.
The parent forwards SIGHUP and SIGTERM, tells systemd READY once every worker listens, and
exits when they have. Each worker keeps its own caches, throttling counts and metrics
(worker i serves metrics on the configured port + i).

A worker that ends before it is ready (a port or file only it needed) stops the start: the
parent ends the others and exits 1, as mysqld exits when part of its start fails. Running
on with fewer workers would hide the cause behind a READY, leave a hole in the admin and
metrics addresses, and under systemd's Restart=on-failure a clean restart is the remedy.

A worker that dies later (killed by a signal, or exiting with an error: the OOM killer, a
crash in a C library) is started again under the same index, with the files as they are
now (it reloads before it listens), after its entries in the shared KILL registry are
wiped: its sessions died with it, and their upstream thread ids may be anyone's by now.
The others and their sessions go on. One that dies again within RESPAWN_WINDOW seconds of
its restart is a fault a restart does not cure: the parent stops them all and exits 1, so
that systemd's Restart=on-failure starts the service afresh."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import systemd
from bridge.runtime import Runtime

if TYPE_CHECKING:
    from bridge.registry import SharedMemory

log = logging.getLogger("bridge.workers")
RESPAWN_WINDOW = 10.0  # seconds: a restarted worker that dies again this soon ends the run
ServeOne = Callable[[int, socket.socket | None, bool], None]  # index, Unix socket, restarted


def _unix_listener(path: Path) -> socket.socket:
    if path.is_socket():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o777)  # noqa: S103 - like mysqld.sock: authentication decides
    sock.listen(1024)
    return sock


def run_workers(
    runtime: Runtime, count: int, serve_one: ServeOne, shared: SharedMemory | None = None
) -> int:
    """Fork `count` workers running serve_one(index, unix_socket, restarted); wait for
    them, starting again one that dies while the others serve."""
    unix = runtime.config.listen.unix
    shared_unix = _unix_listener(unix) if unix is not None else None
    ready_r, ready_w = os.pipe()
    children: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(ready_r)
            os.environ["MYSQL_AUTH_BRIDGE_READY_FD"] = str(ready_w)
            os._exit(_run_worker(serve_one, index, shared_unix, False))
        children[pid] = index
    os.close(ready_w)
    stopping = _forward_signals(children)
    ready = _await_ready(ready_r, count)
    if len(ready) < count:
        return _failed_start(children, ready, unix)
    systemd.ready(f"{count} workers serving")
    log.info("%d workers ready", len(ready))
    status = _watch(children, stopping, lambda index: _respawn(serve_one, index, shared_unix,
                                                               shared))  # fmt: skip
    if unix is not None and unix.is_socket():
        unix.unlink()
    return status


def _watch(children: dict[int, int], stopping: list[bool], respawn: Callable[[int], int]) -> int:
    """Wait for the workers; start again one that died on its own (not in a stop). The
    exit status: the first worker's error, or 1 after giving up on one that keeps dying."""
    status = 0
    restarted: dict[int, float] = {}  # index -> when it was last started again
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        exit_code = os.waitstatus_to_exitcode(code)
        if index is None or stopping[0] or exit_code == 0:
            status = status or exit_code
            continue
        if time.monotonic() - restarted.get(index, -RESPAWN_WINDOW) < RESPAWN_WINDOW:
            log.error("worker %d (pid %d) %s again within %g s of its restart: stopping the "
                      "other workers (the service exits 1; systemd's Restart=on-failure starts "
                      "it afresh)", index, pid, _how(exit_code), RESPAWN_WINDOW)  # fmt: skip
            stopping[0], status = True, 1
            _signal_all(children, signal.SIGTERM)
            continue
        log.error("worker %d (pid %d) %s; its sessions are gone; starting it again (the other "
                  "workers and their sessions go on)", index, pid, _how(exit_code))  # fmt: skip
        restarted[index] = time.monotonic()
        children[respawn(index)] = index
        systemd.notify(f"STATUS=worker {index} started again after it {_how(exit_code)}")
    return status


def _how(exit_code: int) -> str:
    """'was killed by SIGKILL' or 'exited with code 3', from os.waitstatus_to_exitcode."""
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return f"was killed by {name}"
    return f"exited with code {exit_code}"


def _respawn(
    serve_one: ServeOne, index: int, shared_unix: socket.socket | None,
    shared: SharedMemory | None,
) -> int:  # fmt: skip
    """Fork worker `index` again; its entries in the shared registry wiped first."""
    if shared is not None:
        shared.clear(index)
    pid = os.fork()
    if pid == 0:  # not the parent's forwarding handlers; a SIGHUP before the event loop
        # takes it changes nothing (the worker reads the files before it listens)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        os._exit(_run_worker(serve_one, index, shared_unix, True))
    return pid


def _run_worker(
    serve_one: ServeOne, index: int, unix: socket.socket | None, restarted: bool
) -> int:
    """The worker's exit code: 0 after a clean stop, else what it exited with (1 when an
    exception ended it: the traceback is printed, as a single process would print it)."""
    try:
        serve_one(index, unix, restarted)
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


def _signal_all(children: dict[int, int], signum: int) -> None:
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _forward_signals(children: dict[int, int]) -> list[bool]:
    """Pass SIGHUP, SIGTERM and SIGINT on to the workers there are at the time (a restarted
    one too). The flag it returns is set by a SIGTERM or SIGINT: from then on a worker that
    ends is not started again."""
    stopping = [False]

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGHUP:
            systemd.reloading()
        else:
            stopping[0] = True
            systemd.stopping()
        _signal_all(children, signum)
        if signum == signal.SIGHUP:
            systemd.ready("workers reloading their configuration")

    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    sys.stdout.flush()
    return stopping
