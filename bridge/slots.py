"""Connection slots: logged-in sessions apart from handshakes in progress.

A connection takes a handshake slot when it is accepted and gives it back when its login
ends; a successful login moves it to a session slot. Handshakes have a limit of their own
and a per-source cap, so sockets that connect and say nothing (until connect_timeout) can
neither take the places of logged-in sessions nor, from one address, all the handshake
slots. Pure bookkeeping on the event loop: no I/O, no locks.

A source is an IPv4 address, or an IPv6 /64: one host is routinely given a whole /64 (SLAAC,
privacy addresses, a VPS's allocation), so counting each IPv6 address apart would give it
2^64 caps. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, a dual-stack listener's view of an
IPv4 client) is that IPv4 address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from bridge.config import ServerConfig

IPV6_SOURCE_PREFIX = 64


def source_key(address: str) -> str:
    """Whose per-source cap a client address counts against: '192.0.2.7' (IPv4, also when
    mapped into IPv6), '2001:db8:1:2::/64' (IPv6). Not an address (a test's name): as is."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])  # fe80::1%eth0: no zone
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_SOURCE_PREFIX), strict=False))
    return str(ip)


@dataclass
class Slots:
    handshakes: int = 0
    sessions: int = 0
    by_source: dict[str, int] = field(default_factory=dict)  # handshakes per source_key

    def admit(self, source: str | None, config: ServerConfig) -> bool:
        """Take a handshake slot for a new connection from `source` (None: not capped per
        source), or say no: the limits are full."""
        if self.sessions >= config.max_connections:
            return False
        if self.handshakes >= config.max_unauthenticated:
            return False
        if source is not None:
            held = self.by_source.get(source, 0)
            if held >= config.max_unauthenticated_per_source:
                return False
            self.by_source[source] = held + 1
        self.handshakes += 1
        return True

    def promote(self, source: str | None, max_sessions: int) -> bool:
        """The login succeeded: trade the handshake slot for a session slot if one is free."""
        if self.sessions >= max_sessions:
            return False
        self._release_handshake(source)
        self.sessions += 1
        return True

    def release(self, source: str | None, authenticated: bool) -> None:
        if authenticated:
            self.sessions -= 1
        else:
            self._release_handshake(source)

    def _release_handshake(self, source: str | None) -> None:
        self.handshakes -= 1
        if source is not None:
            left = self.by_source.get(source, 0) - 1
            if left > 0:
                self.by_source[source] = left
            else:
                self.by_source.pop(source, None)
