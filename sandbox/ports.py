"""Loopback ports: a free one, whether one accepts connections, and wait_until, the poll
loop the sandbox's servers start with."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on now, never one this process was given before:
    the kernel may offer a port again as soon as it is closed, and two ports taken for one
    server (its listener, its metrics) are both free until it binds them, so the second
    could be the first and the server would exit with "address in use"."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {timeout} s")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
