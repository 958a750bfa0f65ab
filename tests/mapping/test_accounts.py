"""MySQL's account matching: most specific host first, then named users before ''."""

from bridge.mapping.accounts import AccountRow, AccountTable
from bridge.mapping.hosts import client_host


def row(user: str, host: str) -> AccountRow:
    return AccountRow(user, host, "mysql_native_password", b"", f"{user}@{host}")


TABLE = AccountTable.build(
    [row("", "%"), row("app", "%"), row("app", "10.%"), row("", "localhost"),
     row("jeffrey", "localhost"), row("app", "10.1.2.3"), row("ops", "10.0.0.0/8")]
)  # fmt: skip


def match(user: str, ip: str | None) -> str | None:
    found = TABLE.match(user, client_host(ip, True))
    return found.source if found else None


def test_order_is_host_specificity_then_user() -> None:
    assert [r.source for r in TABLE.rows] == [
        "jeffrey@localhost", "app@10.1.2.3", "ops@10.0.0.0/8", "@localhost",  # literal hosts
        "app@10.%",  # wildcard pattern
        "app@%", "@%",  # any host: named before anonymous
    ]  # fmt: skip


def test_exact_ip_beats_pattern_beats_any() -> None:
    assert match("app", "10.1.2.3") == "app@10.1.2.3"
    assert match("app", "10.9.9.9") == "app@10.%"
    assert match("app", "192.0.2.1") == "app@%"


def test_mysql_manual_example_anonymous_localhost_wins_over_named_any_host() -> None:
    # The manual's classic: 'jeffrey' from localhost hits ''@'localhost' before jeffrey@'%'.
    table = AccountTable.build([row("jeffrey", "%"), row("", "localhost")])
    found = table.match("jeffrey", client_host(None, True))
    assert found is not None and found.source == "@localhost"


def test_named_user_beats_anonymous_on_the_same_host() -> None:
    assert match("jeffrey", None) == "jeffrey@localhost"
    assert match("someone", None) == "@localhost"


def test_netmask_rows() -> None:
    assert match("ops", "10.200.0.1") == "ops@10.0.0.0/8"
    assert match("ops", "192.0.2.1") == "@%"


def test_named_users_then_the_host_text_descending_then_file_order_break_ties() -> None:
    first, second = AccountRow("a", "%", "p", b"", "1"), AccountRow("", "%", "p", b"", "2")
    assert AccountTable.build([second, first]).rows[0].source == "1"
    # one rank: the host text in descending byte order, as MariaDB's -strcmp(host)
    assert AccountTable.build([row("x", "10.%"), row("x", "11.%")]).rows[0].host == "11.%"
    assert AccountTable.build([row("x", "10.%"), row("x", "10.%a")]).rows[0].host == "10.%a"
    same = [AccountRow("x", "10.%", "p", b"", "1"), AccountRow("x", "10.%", "p", b"", "2")]
    assert [r.source for r in AccountTable.build(same).rows] == ["1", "2"]


def test_find_exact_row() -> None:
    assert TABLE.find("app", "10.%") is not None
    assert TABLE.find("app", "11.%") is None


def _scan(table: AccountTable, user: str, ip: str | None) -> AccountRow | None:
    """The definition: the first row in search order that matches."""
    client = client_host(ip, True)
    return next((r for r in table.rows if r.matches(user, client)), None)


def test_index_finds_what_a_scan_of_every_row_finds() -> None:
    hosts = ["%", "10.%", "10.1.%", "10.1.2.3", "localhost", "10.0.0.0/255.0.0.0", "%.example"]
    users = ["", "app", "ops", "jeffrey", "u1"]
    rows = [row(u, h) for h in hosts for u in users]
    rows.reverse()  # file order differs from search order
    table = AccountTable.build(rows)
    for user in [*users, "nobody"]:
        for ip in [None, "10.1.2.3", "10.1.9.9", "10.7.0.1", "192.168.0.1", "127.0.0.1"]:
            assert table.match(user, client_host(ip, True)) == _scan(table, user, ip), (user, ip)


def test_anonymous_rows_interleave_with_the_users_own_in_search_order() -> None:
    table = AccountTable.build([row("app", "%"), row("", "10.%"), row("app", "10.1.%")])
    assert match_in(table, "app", "10.1.0.1") == "app@10.1.%"  # the more specific named row
    assert match_in(table, "app", "10.2.0.1") == "@10.%"  # anonymous, more specific than app@%
    assert match_in(table, "app", "192.0.2.1") == "app@%"
    assert match_in(table, "", "10.1.0.1") == "@10.%"  # an empty user name: anonymous rows only


def match_in(table: AccountTable, user: str, ip: str) -> str | None:
    found = table.match(user, client_host(ip, True))
    return found.source if found else None


def test_an_empty_user_name_is_offered_each_anonymous_row_once() -> None:
    table = AccountTable.build([row("", "10.%"), row("app", "%"), row("", "%")])
    assert [r.host for r in table.candidates("")] == ["10.%", "%"]


def test_a_table_built_a_slice_at_a_time_is_the_table_built_at_once() -> None:
    from bridge.mapping.accounts import TableBuilder

    hosts = ["%", "10.%", "10.1.2.3", "localhost", "%.example"]
    rows = [row(u, h) for h in hosts for u in ["", "app", "ops", "u1"]]
    whole = AccountTable.build(rows)
    builder = TableBuilder()
    for start in range(0, len(whole.rows), 3):  # rows already in search order
        builder.add(whole.rows[start : start + 3])
    sliced = builder.table()
    assert sliced.rows == whole.rows
    for user in ["", "app", "ops", "u1", "nobody"]:
        assert list(sliced.candidates(user)) == list(whole.candidates(user))
        for ip in [None, "10.1.2.3", "10.9.9.9", "192.0.2.1"]:
            assert sliced.match(user, client_host(ip, True)) == whole.match(
                user, client_host(ip, True)
            )
        for host in hosts:
            assert sliced.find(user, host.upper()) == whole.find(user, host)
