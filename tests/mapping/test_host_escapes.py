r"""A backslash in a host pattern makes the next character literal, as in mysqld's wildcard
compare: '\_' is a literal '_', '\%' a literal '%', '\1' a '1', and a trailing backslash is
a literal backslash. An escaped wildcard is no wildcard for the search order either.

Each match below was measured against MariaDB 10.11 from 127.0.0.1 (a client mysqld sees as
'localhost' and 127.0.0.1), except the names (mysqld matches resolved names the same way).
The hosts are written as Python raw strings: the text stored in mysql.user."""

from __future__ import annotations

import pytest

from bridge.mapping.accounts import AccountRow, AccountTable
from bridge.mapping.hosts import ClientHost, client_host, parse_host
from bridge.mapping.names import format_account, parse_account, unquote

LOOPBACK = client_host("127.0.0.1", True)  # 'localhost' and 127.0.0.1, as mysqld sees it
LOOPBACK_IP = client_host("127.0.0.1", False)  # the address only


def named(name: str) -> ClientHost:
    return ClientHost(name, None)


@pytest.mark.parametrize(
    ("host", "client", "expected"),
    [
        (r"127.0.\0.%", LOOPBACK, True),  # MariaDB: w1@'127.0.\0.%' logs in
        (r"127.0.\0.%", LOOPBACK_IP, True),  # the address alone matches too
        (r"127.0.0.\1", LOOPBACK, True),  # an escaped ordinary character is itself
        (r"127.0.0.\1", LOOPBACK_IP, True),
        (r"127.0.0.\_", LOOPBACK, False),  # a literal '_', in no address
        (r"127.0.0.\%", LOOPBACK, False),
        (r"127.0.\%", LOOPBACK, False),  # without the backslash it would match
        ("127.0.0.1\\", LOOPBACK, False),  # a trailing backslash is a literal one
        ("127.0.0.1%\\", LOOPBACK, False),  # after a '%' too
        (r"local\host", LOOPBACK, True),
        (r"LOCAL\HOST", named("localhost"), True),  # still case-blind
        (r"10.0.0.\_", named("10.0.0._"), True),
        (r"10.0.0.\_", named("10.0.0.5"), False),
        (r"my\%host", named("my%host"), True),
        (r"my\%host", named("myXhost"), False),
        (r"my\%host", named("my.example.host"), False),
        (r"my\%h_st", named("my%host"), True),  # a wildcard after an escaped one
        (r"my\%h_st", named("myXhost"), False),
        (r"db\\%", named("db\\x"), True),  # '\\' is a literal backslash, '%' a wildcard
        (r"db\\%", named("dbx"), False),
        (r"\\", named("\\"), True),
        (r"\\", named("\\\\"), False),
        ("a\\", named("a\\"), True),
        ("a\\", named("a"), False),
        ("a\\\n%", named("a\nb"), True),  # any character, a line break too
        ("a\nb", named("a\nb"), True),
    ],
)
def test_a_backslash_makes_the_next_character_literal(
    host: str, client: ClientHost, expected: bool
) -> None:
    assert parse_host(host).matches(client) is expected


@pytest.mark.parametrize("host", [r"127.0.\%", r"127.0.0.\_", r"my\%host", r"\%", r"\_"])
def test_an_escaped_wildcard_ranks_as_a_literal_host(host: str) -> None:
    assert parse_host(host).sort_key() == parse_host("127.0.0.1").sort_key()
    assert parse_host(host).sort_key() < parse_host("127.0.0.%").sort_key()


def test_a_wildcard_ranks_by_its_position_in_the_text_backslashes_counted() -> None:
    # mysqld's get_sort counts the characters of the text before the first wildcard,
    # backslashes too: MariaDB picks o@'127.0.\0.%' over o@'127.0.0.%' for 127.0.0.1
    escaped, plain = parse_host(r"127.0.\0.%"), parse_host("127.0.0.%")
    assert escaped.sort_key() < plain.sort_key()
    assert parse_host(r"10.\_.%").sort_key() == parse_host("10.1.2%").sort_key()
    assert parse_host(r"\%%").sort_key() == parse_host("ab%").sort_key()


def test_a_login_takes_the_row_mariadb_takes() -> None:
    rows = [
        AccountRow("o", h, "mysql_native_password", b"", h) for h in ("127.0.0.%", r"127.0.\0.%")
    ]
    for ordered in (rows, rows[::-1]):
        found = AccountTable.build(ordered).match("o", LOOPBACK)
        assert found is not None and found.host == r"127.0.\0.%"


@pytest.mark.parametrize(
    ("hosts", "taken"),
    [
        (("127.0.0.1", r"127.0.0.\1"), r"127.0.0.\1"),  # '\' > '1': the escaped row first
        (("localhost", r"local\host"), "localhost"),  # 'h' > '\': the plain row first
        (("127.0.0.1", "localhost"), "localhost"),
        (("127.0.0.%", "127.0.0._"), "127.0.0._"),
    ],
)
def test_rows_of_one_rank_are_taken_as_mariadb_takes_them(
    hosts: tuple[str, str], taken: str
) -> None:
    """Measured on MariaDB 10.11 (a user with both rows, each with its own password, in
    either order of CREATE USER): the file order does not decide."""
    rows = [AccountRow("t", h, "mysql_native_password", b"", h) for h in hosts]
    for ordered in (rows, rows[::-1]):
        found = AccountTable.build(ordered).match("t", LOOPBACK)
        assert found is not None and found.host == taken


def test_wildcards_past_position_126_rank_the_same() -> None:
    # mysqld ranks by min(position + 1, 127)
    at_125, at_126, at_127 = (parse_host("a" * n + "%") for n in (125, 126, 127))
    assert at_126.sort_key() == at_127.sort_key() == parse_host("a" * 200 + "_").sort_key()
    assert at_126.sort_key() < at_125.sort_key()


@pytest.mark.parametrize(
    ("host", "only_names"),
    [
        (r"127.0.0.\1", False),  # is 127.0.0.1
        (r"127.0.\0.%", False),
        (r"10.0.0.\_", True),  # only a name can hold a literal '_'
        (r"10.\_.%", True),
        (r"10.\%", True),
        (r"local\host", False),
        (r"\f\e80::%", False),
    ],
)
def test_escapes_are_resolved_before_asking_whether_only_names_match(
    host: str, only_names: bool
) -> None:
    assert parse_host(host).needs_names() is only_names


@pytest.mark.parametrize(
    ("quoted", "host"),
    [
        (r"'10.0.0.\_'", r"10.0.0.\_"),  # as mysqld stores CREATE USER x@'10.0.0.\_'
        (r"'my\%host'", r"my\%host"),
        (r'"my\%h\_st"', r"my\%h\_st"),
        (r"'127.0.0.\1'", "127.0.0.1"),  # other escapes are the character itself
        (r"'127.0.\\0.%'", r"127.0.\0.%"),
        (r"`10.0.0.\_`", r"10.0.0.\_"),  # backquotes have no escapes at all
    ],
)
def test_quoted_hosts_keep_the_backslash_of_an_escaped_wildcard(quoted: str, host: str) -> None:
    assert unquote(quoted) == host
    assert parse_account(f"'u'@{quoted}") == ("u", host)
    assert parse_account(format_account("u", host)) == ("u", host)  # and back
