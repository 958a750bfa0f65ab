"""Host pattern edges: which candidates a client offers, literal IPs written another way,
wildcards, case, and netmask syntax errors."""

from __future__ import annotations

import pytest

from bridge.mapping.accounts import AccountRow, AccountTable
from bridge.mapping.hosts import ClientHost, HostPatternError, client_host, parse_host

SOCKET = ClientHost("localhost", None)
V6_LOOPBACK = ClientHost(None, client_host("::1", False).ip)


@pytest.mark.parametrize("pattern", ["%", ""])
def test_any_host_matches_even_a_client_with_no_name_or_address(pattern: str) -> None:
    assert parse_host(pattern).matches(ClientHost(None, None))


@pytest.mark.parametrize("pattern", ["None", "N%", "Non_", "%one"])
def test_a_client_without_an_address_offers_no_address_text(pattern: str) -> None:
    assert not parse_host(pattern).matches(SOCKET)


@pytest.mark.parametrize(
    ("pattern", "client", "expected"),
    [
        ("0:0:0:0:0:0:0:1", V6_LOOPBACK, True),  # the same address, written out
        ("0000::0001", V6_LOOPBACK, True),
        ("::2", V6_LOOPBACK, False),
        ("localhost", ClientHost(None, None), False),
    ],
)
def test_a_literal_ip_matches_however_it_is_written(
    pattern: str, client: ClientHost, expected: bool
) -> None:
    assert parse_host(pattern).matches(client) is expected


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("LOCAL%", "localhost", True),
        ("Db_.Example.COM", "db1.example.com", True),
        ("db_.example.com", "db12.example.com", False),  # '_' is exactly one character
        ("db_.example.com", "db.example.com", False),
        ("db%.example.com", "db.example.com", True),  # '%' may be empty
        ("db1_example.com", "db1.example.com", True),
        ("db1.example.co_", "db1.exampleXco_", False),  # '.' is literal, not a regex dot
        ("db(1).%", "db(1).x", True),  # regex metacharacters are literal
        ("db(1).%", "db1.x", False),
    ],
)
def test_wildcards_are_sql_like_and_case_blind(pattern: str, host: str, expected: bool) -> None:
    assert parse_host(pattern).matches(ClientHost(host, None)) is expected


def test_wildcard_rank_counts_literal_characters_whatever_they_are() -> None:
    # 'X' and 'x' are literal characters like any other before the first wildcard
    assert parse_host("DBX.%").sort_key() == parse_host("db1.%").sort_key()
    assert parse_host("XX%").sort_key() == parse_host("ab%").sort_key()
    assert parse_host("X_%").sort_key() == parse_host("a%").sort_key()


@pytest.mark.parametrize("bad", ["10.0.0.0/8/8", "10.0.0.0/", "/8", "10.0.0.0/255.255.0.255"])
def test_bad_netmasks_name_the_pattern(bad: str) -> None:
    with pytest.raises(HostPatternError) as caught:
        parse_host(bad)
    assert str(caught.value).startswith(f"{bad!r} is not an address with a netmask: ")


def test_long_names_are_refused_with_the_limit() -> None:
    assert parse_host("a" * 255).text == "a" * 255
    with pytest.raises(HostPatternError) as caught:
        parse_host("a" * 256)
    assert str(caught.value) == "a host name is at most 255 characters"


def row(user: str, host: str) -> AccountRow:
    return AccountRow(user, host, "mysql_native_password", b"", f"{user}@{host}")


@pytest.mark.parametrize(
    ("stored", "asked"), [("LocalHost", "localhost"), ("localhost", "LOCALHOST")]
)
def test_find_is_exact_on_user_and_case_blind_on_host(stored: str, asked: str) -> None:
    table = AccountTable.build([row("u", stored), row("U", "%")])
    found = table.find("u", asked)
    assert found is not None and found.host == stored
    assert table.find("U", asked) is None and table.find("u", "%") is None


@pytest.mark.parametrize(
    ("host", "only_names"),
    [
        ("app1.example.com", True),  # a host name: the bridge resolves none
        ("%.example.com", True),  # a wildcard only names can match
        ("db-_", True),  # '-' is in no address
        ("%", False),
        ("", False),
        ("localhost", False),
        ("LocalHost", False),
        ("l%", False),  # matches 'localhost'
        ("loc_lhost", False),
        ("10.1.2.3", False),
        ("::1", False),
        ("10.1.2.%", False),
        ("fe80::%", False),
        ("db%", False),  # hex digits: an IPv6 address can match
        ("ABC_", False),
        ("0123456789abcdefABCDEF.:%_", False),  # every character an address may hold
        ("10.0.0.0/255.0.0.0", False),
        ("fe80::/10", False),
    ],
)
def test_rows_only_a_host_name_could_match(host: str, only_names: bool) -> None:
    assert parse_host(host).needs_names() is only_names
