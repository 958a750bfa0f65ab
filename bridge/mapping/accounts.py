"""Account rows as in mysql.user, and MySQL's most-specific-first matching.

https://dev.mysql.com/doc/refman/8.0/en/connection-access.html
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
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


def _order(indexed: tuple[int, AccountRow]) -> tuple[int, int, int, tuple[int, ...], int]:
    """MariaDB's search order: the host's rank, named users before '', then (among rows of
    one rank) the host text in descending byte order, as mysqld's `-strcmp(host)`:
    'localhost' before '127.0.0.1', '127.0.0.\\1' before '127.0.0.1', '10.0.0._' before
    '10.0.0.%' (measured on MariaDB 10.11); then the order of the files."""
    index, row = indexed
    host_rank, host_detail = row.host_pattern.sort_key()
    return (host_rank, host_detail, 1 if row.user == "" else 0, _descending(row.host), index)


def _descending(text: str) -> tuple[int, ...]:
    """A key that sorts texts as strcmp() in reverse: a longer text before its prefix."""
    return (*(255 - b for b in text.encode()), 256)


@dataclass(frozen=True)
class AccountTable:
    """Rows in MariaDB's search order (see _order); full ties keep the order of the files.

    A login looks only at the rows of its own user name and the anonymous rows (an index by
    exact user name), taken in their places in the search order: the same first match as a
    scan of every row, in time that does not grow with the number of other users' rows."""

    rows: tuple[AccountRow, ...]
    _by_user: dict[str, list[int]] = field(init=False, repr=False, compare=False)
    _by_name: dict[tuple[str, str], AccountRow] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = TableBuilder()
        index.add(self.rows)
        index.fill(self)

    @classmethod
    def build(cls, rows: list[AccountRow]) -> AccountTable:
        return cls(tuple(row for _, row in sorted(enumerate(rows), key=_order)))

    def candidates(self, user: str) -> Iterator[AccountRow]:
        """The rows that can match `user`, in search order: its own and the anonymous ones."""
        own = self._by_user.get(user, ()) if user else ()
        anonymous = self._by_user.get("", ())
        for position in heapq.merge(own, anonymous):
            yield self.rows[position]

    def match(self, user: str, client: ClientHost) -> AccountRow | None:
        for row in self.candidates(user):
            if row.matches(user, client):
                return row
        return None

    def find(self, user: str, host: str) -> AccountRow | None:
        """The row with exactly this user and host text (for PROXY targets and lookups)."""
        return self._by_name.get((user, host.lower()))


class TableBuilder:
    """An AccountTable built a slice at a time from rows already in search order: a reload
    adds the rows as they arrive from the process that read the files, and the event loop
    serves sessions between slices."""

    def __init__(self) -> None:
        self.rows: list[AccountRow] = []
        self._by_user: dict[str, list[int]] = {}
        self._by_name: dict[tuple[str, str], AccountRow] = {}

    def add(self, rows: Iterable[AccountRow]) -> None:
        for row in rows:
            self._by_user.setdefault(row.user, []).append(len(self.rows))
            self._by_name.setdefault((row.user, row.host.lower()), row)
            self.rows.append(row)

    def table(self) -> AccountTable:
        table = AccountTable.__new__(AccountTable)
        object.__setattr__(table, "rows", tuple(self.rows))
        self.fill(table)
        return table

    def fill(self, table: AccountTable) -> None:
        """The index into `table` (lists: read only, made in one step without a copy)."""
        object.__setattr__(table, "_by_user", self._by_user)
        object.__setattr__(table, "_by_name", self._by_name)
