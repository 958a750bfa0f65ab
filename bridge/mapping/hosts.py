"""MySQL host patterns: literal names and IPs, '%'/'_' wildcards, 'ip/netmask' and CIDR.

https://dev.mysql.com/doc/refman/8.0/en/account-names.html
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class ClientHost:
    """Who is connecting: `name` is 'localhost' for the Unix socket and loopback clients
    (as mysqld resolves them), else None; `ip` is None for the Unix socket."""

    name: str | None
    ip: IPAddress | None

    @property
    def display(self) -> str:
        """The host part of error messages, as mysqld prints it."""
        return self.name or (str(self.ip) if self.ip else "localhost")


@lru_cache(maxsize=4096)
def client_host(ip_text: str | None, loopback_is_localhost: bool) -> ClientHost:
    if ip_text is None:
        return ClientHost("localhost", None)
    ip = ipaddress.ip_address(ip_text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    name = "localhost" if loopback_is_localhost and ip.is_loopback else None
    return ClientHost(name, ip)


class HostPatternError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class HostPattern:
    text: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    regex: re.Pattern[str] | None  # for wildcard patterns

    def matches(self, client: ClientHost) -> bool:
        if self.text in ("%", ""):
            return True
        if self.network is not None:
            return client.ip is not None and client.ip in self.network
        candidates = [c for c in (client.name, str(client.ip) if client.ip else None) if c]
        if self.regex is not None:
            return any(self.regex.fullmatch(c) for c in candidates)
        return any(c.lower() == self.text.lower() for c in candidates) or self._same_ip(client)

    def _same_ip(self, client: ClientHost) -> bool:
        try:
            return client.ip is not None and ipaddress.ip_address(self.text) == client.ip
        except ValueError:
            return False

    def needs_names(self) -> bool:
        """Only a host name could match it (a name or a wildcard pattern of one, neither
        an IP address nor 'localhost'): the bridge resolves no names, so no client does."""
        if self.network is not None or self.matches(_LOCALHOST):
            return False
        if self.regex is None:
            return not _is_ip(self.text)
        return not set(self.text) <= _IP_TEXT

    def sort_key(self) -> tuple[int, int]:
        """Most specific first: literal names and IPs (with or without a netmask), then
        wildcard patterns by how many literal characters precede the first wildcard,
        then '%', then ''."""
        if self.text == "":
            return (3, 0)
        if self.text == "%":
            return (2, 0)
        if self.regex is not None:
            first_wild = min(i for i, ch in enumerate(self.text) if ch in "%_")
            return (1, -first_wild)
        return (0, 0)


# Every character an IP address's text (v4, v6) or a wildcard can hold.
_IP_TEXT = frozenset("0123456789abcdefABCDEF.:%_")
_LOCALHOST = ClientHost("localhost", None)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address, mask = text.split("/", 1)
    try:  # accepts both '10.0.0.0/255.255.255.0' and '10.0.0.0/24'
        return ipaddress.ip_network(f"{address}/{mask}", strict=True)
    except ValueError as exc:
        raise HostPatternError(f"{text!r} is not an address with a netmask: {exc}") from exc


@lru_cache(maxsize=4096)
def parse_host(text: str) -> HostPattern:
    if len(text) > 255:
        raise HostPatternError("a host name is at most 255 characters")
    if "/" in text:
        return HostPattern(text, _network(text), None)
    if "%" in text or "_" in text:
        return HostPattern(text, None, _like_regex(text))
    return HostPattern(text, None, None)
