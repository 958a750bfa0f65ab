"""MySQL's host specificity order, as the manual's connection-access page describes it:
literal host names and IP addresses first (a netmask does not change an IP's rank), then
wildcard patterns, the later the first wildcard the more specific, then '%', then ''.
Equal ranks: named users before '', then the host text descending (MariaDB), then file order.

https://dev.mysql.com/doc/refman/8.0/en/connection-access.html
"""

from __future__ import annotations

import itertools

import pytest

from bridge.mapping.accounts import AccountRow, AccountTable
from bridge.mapping.hosts import client_host, parse_host

# Most specific first; rows on one line rank the same.
ORDER: list[list[str]] = [
    ["localhost", "db1.example.com", "10.1.2.3", "10.1.2.0/255.255.255.0", "10.0.0.0/8"],
    ["db1.example.co_"],  # first wildcard at position 14
    ["10.1.2.%", "10.1.2._"],  # at position 7
    ["10.1.%"],  # at 5
    ["10.%"],  # at 3
    ["_.example.com", "%.example.com"],  # at 0
    ["%"],
    [""],
]


def rank(host: str) -> tuple[int, int]:
    return parse_host(host).sort_key()


def test_every_host_ranks_below_the_line_above_it() -> None:
    for above, below in itertools.pairwise(ORDER):
        assert max(rank(h) for h in above) < min(rank(h) for h in below), (above, below)


@pytest.mark.parametrize("line", [line for line in ORDER if len(line) > 1])
def test_hosts_on_one_line_rank_the_same(line: list[str]) -> None:
    assert len({rank(h) for h in line}) == 1


def row(user: str, host: str, source: str = "") -> AccountRow:
    return AccountRow(user, host, "mysql_native_password", b"", source or f"{user}@{host}")


def test_a_longer_wildcard_prefix_wins_whatever_the_file_order() -> None:
    # With the ranking broken, x@'10.%' and x@'10.1.%' tie and file order picks the row.
    ten = client_host("10.1.2.3", False)
    for rows in ([row("x", "10.%"), row("x", "10.1.%")], [row("x", "10.1.%"), row("x", "10.%")]):
        found = AccountTable.build(rows).match("x", ten)
        assert found is not None and found.host == "10.1.%"


def test_table_order_follows_the_manual() -> None:
    hosts = [h for line in ORDER for h in line]
    table = AccountTable.build([row("u", h) for h in reversed(hosts)])
    got = [r.host for r in table.rows]
    for above, below in itertools.pairwise(ORDER):
        assert max(got.index(h) for h in above) < min(got.index(h) for h in below)


def test_ties_keep_file_order_and_named_users_come_first() -> None:
    rows = [row("", "%", "anon"), row("b", "%", "b"), row("a", "%", "a"), row("", "%", "anon2")]
    assert [r.source for r in AccountTable.build(rows).rows] == ["b", "a", "anon", "anon2"]


def test_anonymous_on_a_literal_host_beats_a_named_user_on_a_pattern() -> None:
    table = AccountTable.build([row("app", "10.1.%"), row("", "10.1.2.3")])
    found = table.match("app", client_host("10.1.2.3", False))
    assert found is not None and (found.user, found.host) == ("", "10.1.2.3")


def test_empty_host_is_least_specific_but_matches_anyone() -> None:
    table = AccountTable.build([row("u", ""), row("u", "%")])
    assert [r.host for r in table.rows] == ["%", ""]
    assert parse_host("").matches(client_host("192.0.2.1", False))
    assert parse_host("").matches(client_host(None, True))
