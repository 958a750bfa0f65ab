"""systemd integration without libsystemd: sd_notify(3) messages to $NOTIFY_SOCKET, and
sockets passed by socket activation (sd_listen_fds(3): $LISTEN_PID, $LISTEN_FDS, fd 3 on)."""

from __future__ import annotations

import os
import socket
import time

SD_LISTEN_FDS_START = 3


def notify(*fields: str) -> bool:
    """Send 'KEY=value' lines to the service manager; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # the abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
        except OSError:
            return False
    return True


def ready(status: str) -> bool:
    return notify("READY=1", f"STATUS={status}")


def reloading() -> bool:
    # MONOTONIC_USEC lets systemd >= 253 tell this reload from a later one.
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")


def stopping() -> bool:
    return notify("STOPPING=1")


def listen_sockets() -> list[socket.socket]:
    """The listening sockets systemd passed to this process, if any (then unset the
    variables, as sd_listen_fds(unset_environment=1) does, so children don't take them)."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    count = int(os.environ.get("LISTEN_FDS", "0"))
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    sockets = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        sockets.append(socket.socket(fileno=fd))
    return sockets
