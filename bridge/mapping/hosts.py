"""MySQL host patterns: literal names and IPs, '%'/'_' wildcards, 'ip/netmask' and CIDR.

A backslash makes the character after it literal, as in mysqld's wildcard compare of host
patterns: '10.0.0.\\_' matches a name with a literal '_', '127.0.0.\\1' matches 127.0.0.1;
a backslash at the end is a literal backslash. An escaped '%' or '_' is no wildcard for the
search order either. (Measured against MariaDB 10.11.)

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
    # the literal characters, escapes resolved: the whole name when there is no wildcard
    literal: str
    first_wild: int  # the position of the first wildcard in `text` (wildcard patterns)

    def matches(self, client: ClientHost) -> bool:
        if self.text in ("%", ""):
            return True
        if self.network is not None:
            return client.ip is not None and client.ip in self.network
        candidates = [c for c in (client.name, str(client.ip) if client.ip else None) if c]
        if self.regex is not None:
            return any(self.regex.fullmatch(c) for c in candidates)
        return any(c.lower() == self.literal.lower() for c in candidates) or self._same_ip(client)

    def _same_ip(self, client: ClientHost) -> bool:
        try:
            return client.ip is not None and ipaddress.ip_address(self.literal) == client.ip
        except ValueError:
            return False

    def needs_names(self) -> bool:
        """Only a host name could match it (a name or a wildcard pattern of one, neither
        an IP address nor 'localhost'): the bridge resolves no names, so no client does."""
        if self.network is not None or self.matches(_LOCALHOST):
            return False
        if self.regex is None:
            return not _is_ip(self.literal)
        return not set(self.literal) <= _IP_TEXT

    def sort_key(self) -> tuple[int, int]:
        """Most specific first: literal names and IPs (with or without a netmask), then
        wildcard patterns by how many characters of the text precede the first wildcard
        (backslashes count, as in mysqld's get_sort; positions past 126 rank the same),
        then '%', then ''."""
        if self.text == "":
            return (3, 0)
        if self.text == "%":
            return (2, 0)
        if self.regex is not None:
            return (1, -min(self.first_wild, LAST_RANKED))
        return (0, 0)


# Every character an IP address's text (v4, v6) can hold.
_IP_TEXT = frozenset("0123456789abcdefABCDEF.:")
_ESCAPED_OR_NOT = re.compile(r"\\(.)|(.)", re.DOTALL)  # '\x' is x; a lone '\' is itself
WILDCARDS = {"%": ".*", "_": "."}  # SQL LIKE's, as regular expressions
LAST_RANKED = 126  # mysqld ranks a wildcard by min(position + 1, 127)
_LOCALHOST = ClientHost("localhost", None)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


Piece = tuple[int, str, bool]  # (position in the text, character, is a wildcard)


def _pieces(text: str) -> list[Piece]:
    """The characters mysqld's wildcard compare sees: a backslash makes the next character
    literal (and is not itself compared); one at the end is a literal backslash."""
    return [
        (m.start(), m[1], False) if m[1] is not None else (m.start(), m[2], m[2] in WILDCARDS)
        for m in _ESCAPED_OR_NOT.finditer(text)
    ]


def _like_regex(pieces: list[Piece]) -> re.Pattern[str]:
    parts = [WILDCARDS[ch] if wild else re.escape(ch) for _, ch, wild in pieces]
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
        return HostPattern(text, _network(text), None, text, 0)
    pieces = _pieces(text)
    literal = "".join(ch for _, ch, wild in pieces if not wild)
    wildcards = [i for i, _, wild in pieces if wild]
    if wildcards:
        return HostPattern(text, None, _like_regex(pieces), literal, wildcards[0])
    return HostPattern(text, None, None, literal, 0)
