"""Which hosts this process resolves or connects to, seen through an audit hook."""

from __future__ import annotations

import sys
from typing import Any


class SocketWatch:
    """An audit hook (it cannot be removed, so it can be switched off): the hosts this
    process resolves or connects to while it is on."""

    def __init__(self) -> None:
        self.on = False
        self.hosts: list[str] = []
        sys.addaudithook(self)

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.on and event == "socket.getaddrinfo":
            self.hosts.append(str(args[0]))
        elif self.on and event == "socket.connect" and isinstance(args[1], tuple):
            self.hosts.append(str(args[1][0]))
