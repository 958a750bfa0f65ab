"""Account rows as in mysql.user, and MySQL's most-specific-first matching.

https://dev.mysql.com/doc/refman/8.0/en/connection-access.html
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.mapping.hosts import ClientHost, HostPattern, parse_host
from bridge.mapping.names import format_account


@dataclass(frozen=True, slots=True)
class AccountRow:
    user: str  # '' is the anonymous account
    host: str
    plugin: str
    authentication_string: bytes = field(repr=False)
    source: str = ""  # where it was defined, e.g. 'accounts.yaml:12'
    init_sql: tuple[str, ...] = ()
    wire_method: str | None = None  # pinned by the accounts file, else the plugin decides

    @property
    def host_pattern(self) -> HostPattern:
        return parse_host(self.host)

    @property
    def account(self) -> str:
        """'user'@'host' as MySQL prints an account name."""
        return format_account(self.user, self.host)

    def matches(self, user: str, client: ClientHost) -> bool:
        return (self.user == "" or self.user == user) and self.host_pattern.matches(client)


def _order(indexed: tuple[int, AccountRow]) -> tuple[int, int, int, int]:
    index, row = indexed
    host_rank, host_detail = row.host_pattern.sort_key()
    return (host_rank, host_detail, 1 if row.user == "" else 0, index)


@dataclass(frozen=True)
class AccountTable:
    """Rows in MySQL's search order; ties keep the order of the files."""

    rows: tuple[AccountRow, ...]

    @classmethod
    def build(cls, rows: list[AccountRow]) -> AccountTable:
        return cls(tuple(row for _, row in sorted(enumerate(rows), key=_order)))

    def match(self, user: str, client: ClientHost) -> AccountRow | None:
        for row in self.rows:
            if row.matches(user, client):
                return row
        return None

    def find(self, user: str, host: str) -> AccountRow | None:
        """The row with exactly this user and host text (for PROXY targets and lookups)."""
        for row in self.rows:
            if row.user == user and row.host.lower() == host.lower():
                return row
        return None
