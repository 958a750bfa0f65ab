"""import-sql on dumps without `;` (what `mysql -N` prints): every statement found, and text
the parser does not understand reported with file:line, never dropped."""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.importsql import import_sql, to_yaml
from bridge.runtime import load_accounts
from bridge.sqltext import embedded_opener, statements, tokenize

NATIVE = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"  # PASSWORD('hashcat')

# `mysql -N -r` on MariaDB 10.11.19: the SHOW CREATE USER lines, then SHOW GRANTS for the
# accounts in mysql.proxies_priv. A name holds a newline; another holds "CREATE USER".
MARIADB_RAW = f"""CREATE USER `root`@`localhost`
CREATE USER `alice`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'
CREATE USER `o'brien`@`10.%` IDENTIFIED BY PASSWORD '{NATIVE}'
CREATE USER `locked`@`%` IDENTIFIED BY PASSWORD '{NATIVE}' ACCOUNT LOCK
CREATE USER `sock`@`localhost` IDENTIFIED VIA unix_socket
CREATE USER `multi
CREATE USER y`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'
CREATE USER `CREATE USER x`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'
CREATE USER `ed`@`%` IDENTIFIED VIA mysql_native_password USING '{NATIVE}' OR unix_socket
GRANT `analyst` TO `alice`@`%`
GRANT USAGE ON *.* TO `alice`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'
GRANT PROXY ON `dev`@`%` TO `alice`@`%`
SET DEFAULT ROLE `analyst` FOR `alice`@`%`
GRANT PROXY ON `dev`@`%` TO `multi
CREATE USER y`@`%`
GRANT `analyst` TO `root`@`localhost` WITH ADMIN OPTION
GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION
GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION
"""


def test_mariadb_output_without_semicolons_imports_every_statement() -> None:
    result = import_sql(MARIADB_RAW, "users.sql")
    assert [(a["user"], a["host"]) for a in result.accounts] == [
        ("root", "localhost"), ("alice", "%"), ("o'brien", "10.%"), ("sock", "localhost"),
        ("multi\nCREATE USER y", "%"), ("CREATE USER x", "%"),
    ]  # fmt: skip
    assert result.not_translated == [
        "users.sql:4: 'locked'@'%': ACCOUNT LOCK: a locked account is not imported",
        "users.sql:9: 'ed'@'%': several authentication methods (IDENTIFIED VIA ... OR ...)"
        " are not supported",
    ]
    assert result.grants == {
        "'alice'@'%'": ["'dev'@'%'"],
        "'multi\nCREATE USER y'@'%'": ["'dev'@'%'"],
    }  # the install default (line 18) lets root grant PROXY; it makes no proxy
    assert result.skipped == [
        *(f"users.sql:{n}: privileges stay on the upstream server" for n in (10, 11, 13, 16, 17)),
        "users.sql:18: GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION: lets the "
        "grantee grant PROXY to others (the server's install default for root); nobody becomes "
        "the anonymous account, and granting stays on the upstream server",
    ]


def test_create_user_lines_without_semicolons_are_all_imported(tmp_path: Path) -> None:
    """The trial's case: six lines, no `;`; only the first used to be imported, silently."""
    sql = "".join(f"CREATE USER `u{i}`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'\n" for i in range(6))
    result = import_sql(sql, "users.sql")
    assert [a["user"] for a in result.accounts] == [f"u{i}" for i in range(6)]
    assert result.not_translated == [] and result.skipped == []
    path = tmp_path / "accounts.yaml"
    path.write_text(to_yaml(result))
    assert len(load_accounts((path,))[0]) == 6


def test_hand_formatted_statements_may_span_lines() -> None:
    sql = (
        "CREATE USER 'a'@'%'\n  IDENTIFIED WITH mysql_native_password\n  AS '" + NATIVE + "'\n"
        "  REQUIRE NONE\n  PASSWORD EXPIRE DEFAULT\n  ACCOUNT UNLOCK\n"
        "GRANT SELECT, CREATE USER,\n  ALTER ROUTINE ON *.* TO 'a'@'%'\n  WITH GRANT OPTION\n"
        "GRANT PROXY ON 'b'@'%'\n  TO 'a'@'%'\n"
    )
    result = import_sql(sql, "f.sql")
    assert [a["user"] for a in result.accounts] == ["a"]
    assert result.grants == {"'a'@'%'": ["'b'@'%'"]}
    assert result.skipped == ["f.sql:7: privileges stay on the upstream server"]
    assert result.not_translated == []


def test_two_statements_on_one_line_are_reported_not_merged() -> None:
    sql = (
        f"CREATE USER a IDENTIFIED BY PASSWORD '{NATIVE}' CREATE USER b\n"
        "GRANT USAGE ON *.* TO a GRANT PROXY ON x TO a\n"
        "SET DEFAULT ROLE r FOR a ALTER USER a ACCOUNT LOCK\n"
    )
    result = import_sql(sql, "f.sql")
    assert result.accounts == [] and result.skipped == []
    assert result.not_translated == [
        "f.sql:1: cannot parse: 'CREATE ...' inside the statement 'CREATE USER a ...'"
        " (a missing ';'?)",
        "f.sql:2: cannot parse: 'GRANT ...' inside the statement 'GRANT USAGE ON ...'"
        " (a missing ';'?)",
        "f.sql:3: cannot parse: 'ALTER ...' inside the statement 'SET DEFAULT ROLE ...'"
        " (a missing ';'?)",
    ]


def test_text_after_a_statement_that_is_not_understood_is_reported() -> None:
    sql = (
        f"CREATE USER `a`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'\n"
        "PAGER set to stdout\n"  # a mysql client's message in the dump
        f"CREATE USER `b`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'\n"
        "GRANT PROXY ON `x`@`%` TO `b`@`%` junk\n"
        "GRANT PROXY ON `y`@`%` TO `b`@`%` WITH GRANT OPTION\n"
    )
    result = import_sql(sql, "f.sql")
    assert [a["user"] for a in result.accounts] == ["b"]
    assert result.grants == {"'b'@'%'": ["'y'@'%'"]}
    assert result.not_translated == [
        "f.sql:1: cannot parse: unexpected 'PAGER' after the account name",
        "f.sql:4: cannot parse: unexpected 'junk' after GRANT PROXY ... TO",
    ]


def test_mysql_8_multi_factor_accounts_are_reported_and_the_next_account_kept() -> None:
    sql = (
        f"CREATE USER 'mfa'@'%' IDENTIFIED WITH caching_sha2_password BY 'x'"
        f" AND IDENTIFIED WITH authentication_fido, 'b'@'%' IDENTIFIED BY PASSWORD '{NATIVE}'"
        " REQUIRE NONE PASSWORD HISTORY DEFAULT;"
    )
    result = import_sql(sql, "f.sql")
    assert [a["user"] for a in result.accounts] == ["b"]
    assert result.not_translated == [
        "f.sql:1: 'mfa'@'%': several authentication factors (IDENTIFIED ... AND IDENTIFIED ...)"
        " are not supported"
    ]


def test_create_or_replace_user_and_roles() -> None:
    sql = f"CREATE OR REPLACE USER 'a'@'%' IDENTIFIED BY PASSWORD '{NATIVE}';\nCREATE ROLE r;\n"
    result = import_sql(sql, "f.sql")
    assert [a["user"] for a in result.accounts] == ["a"]
    assert result.skipped == [
        "f.sql:2: a role is not an account: it and its privileges stay on the upstream server"
    ]


def test_a_grant_to_an_account_not_imported_says_where_it_is() -> None:
    result = import_sql("CREATE USER a IDENTIFIED VIA parsec\nGRANT PROXY ON x TO a\n", "f.sql")
    assert result.not_translated == [
        "f.sql:1: 'a'@'%': plugin 'parsec' is not supported by this bridge",
        "f.sql:2: GRANT PROXY ON 'x'@'%' TO 'a'@'%': 'a'@'%' was not imported",
    ]


def test_the_privilege_list_of_a_grant_is_not_an_embedded_statement() -> None:
    tokens = tokenize("GRANT CREATE USER, DROP ROLE, GRANT OPTION ON *.* TO a WITH GRANT OPTION")
    assert embedded_opener(tokens) is None
    tokens = tokenize("REVOKE CREATE USER ON *.* FROM a CREATE USER b")
    found = embedded_opener(tokens)
    assert found is not None and found.text == "CREATE" and found is tokens[-3]


# --- properties -------------------------------------------------------------------------

# Names with what can confuse a splitter: quotes, backticks, newlines, ';', and keywords.
NAME = st.lists(
    st.sampled_from([*"ab_%'`\";\n ", "CREATE USER ", "GRANT ", "\nGRANT ", "--", "/*"]),
    min_size=1,
    max_size=12,
).map("".join)


def show_create_user(user: str, host: str) -> str:
    """As SHOW CREATE USER prints it: backtick-quoted names, `` for a backtick."""

    def ident(value: str) -> str:
        return "`" + value.replace("`", "``") + "`"

    return f"CREATE USER {ident(user)}@{ident(host)} IDENTIFIED BY PASSWORD '{NATIVE}'"


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(st.tuples(NAME, NAME), min_size=1, max_size=8, unique=True),
    end=st.sampled_from(["\n", ";\n", ";", "\n\n", "\r\n", " -- c\n", "\n/* c */ "]),
)
def test_every_show_create_user_line_is_one_account(names: list[tuple[str, str]], end: str) -> None:
    sql = end.join(show_create_user(user, host) for user, host in names) + end
    if end == "\n/* c */ ":  # the comment starts the next line: no line start, so use `;`
        sql = sql.replace(end, ";" + end)
    assert len(statements(tokenize(sql))) == len(names)
    result = import_sql(sql, "f.sql")
    assert [(a["user"], a["host"]) for a in result.accounts] == names
    assert result.not_translated == [] and result.skipped == []


LINES = [
    f"CREATE USER `a`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'",
    "CREATE USER `b`@`h` IDENTIFIED VIA parsec",
    "CREATE USER `c`@`%` ACCOUNT LOCK",
    "GRANT USAGE ON *.* TO `a`@`%`",
    "GRANT SELECT, CREATE USER ON `db`.* TO `a`@`%` WITH GRANT OPTION",
    "GRANT PROXY ON `p{i}`@`%` TO `a`@`%`",
    "SET PASSWORD FOR `a`@`%` = '*x'",
    "SET DEFAULT ROLE `r` FOR `a`@`%`",
    "CREATE ROLE `r`",
]
JUNK = ["nonsense here", "'a quoted string'", "PAGER set to stdout", "CREATE USER `e`@`%`", "-- c"]


@settings(max_examples=200, deadline=None)
@given(picks=st.lists(st.integers(0, len(LINES) - 1), min_size=1, max_size=10))
def test_every_line_of_a_dump_has_one_outcome(picks: list[int]) -> None:
    """An account or a grant, a skipped message or a NOT TRANSLATED one: one per line."""
    lines = [LINES[k].format(i=i) for i, k in enumerate(picks)]
    result = import_sql("\n".join(lines), "f.sql")
    grants = sum(len(v) for v in result.grants.values())
    outcomes = len(result.accounts) + grants + len(result.skipped) + len(result.not_translated)
    assert outcomes == len(lines)


@settings(max_examples=200, deadline=None)
@given(
    picks=st.lists(st.integers(0, len(LINES) - 1), min_size=1, max_size=8),
    junk=st.sampled_from(JUNK[:3]),
    where=st.integers(1, 8),
)
def test_a_line_the_parser_does_not_understand_never_vanishes(
    picks: list[int], junk: str, where: int
) -> None:
    """Text appended to any statement as a line of its own changes what is reported: the
    statement becomes NOT TRANSLATED, or its skipped message names the extra line."""
    lines = [LINES[k].format(i=i) for i, k in enumerate(picks)]
    before = import_sql("\n".join(lines), "f.sql")
    where = min(where, len(lines))
    after = import_sql("\n".join([*lines[:where], junk, *lines[where:]]), "f.sql")
    first = tokenize(junk)[0].text
    named = [line for line in after.not_translated if f"unexpected {first!r}" in line]
    assert named or f"(to line {where + 1})" in " ".join(after.skipped)
    assert not any(f"unexpected {first!r}" in line for line in before.not_translated)


def test_every_option_mysql_8_and_mariadb_print_after_the_account_is_understood() -> None:
    hex_hash = "0x" + b"$A$005$".hex().upper() + "41" * 63
    sql = (
        f"CREATE USER `m`@`%` IDENTIFIED WITH 'caching_sha2_password' AS {hex_hash}"
        " DEFAULT ROLE `r1`@`%`,`r2`@`%` REQUIRE ISSUER '/C=SE/CN=ca' AND SUBJECT '/CN=m'"
        " WITH MAX_QUERIES_PER_HOUR 10 MAX_USER_CONNECTIONS 2 PASSWORD EXPIRE INTERVAL 90 DAY"
        " ACCOUNT UNLOCK PASSWORD HISTORY 5 PASSWORD REUSE INTERVAL DEFAULT"
        " PASSWORD REQUIRE CURRENT OPTIONAL FAILED_LOGIN_ATTEMPTS 3 PASSWORD_LOCK_TIME UNBOUNDED"
        ' ATTRIBUTE \'{"team": "ops"}\'\n'
        f"CREATE USER `n`@`%` IDENTIFIED BY PASSWORD '{NATIVE}' REQUIRE SSL"
        " WITH MAX_STATEMENT_TIME 1.5 PASSWORD EXPIRE NEVER\n"
        "GRANT SELECT (`c`) ON `db`.`t` TO `n`@`%` AS `root`@`localhost` WITH ROLE DEFAULT\n"
        f"GRANT USAGE ON *.* TO `n`@`%` IDENTIFIED BY PASSWORD '{NATIVE}' WITH GRANT OPTION"
        " MAX_QUERIES_PER_HOUR 3 MAX_STATEMENT_TIME 1.500000\n"  # as MariaDB's SHOW GRANTS
    )
    result = import_sql(sql, "f.sql")
    assert result.not_translated == [
        "f.sql:1: 'm'@'%': REQUIRE ISSUER SUBJECT: the bridge checks no client certificate; "
        "imported, the account would log in with its password alone"
    ]
    assert [a["user"] for a in result.accounts] == ["n"]
    assert len(result.skipped) == 3  # n's REQUIRE SSL, and the two GRANTs
    assert "f.sql:2: 'n'@'%': REQUIRE SSL is not carried over" in result.skipped[0]


def test_identified_without_a_method_is_reported() -> None:
    result = import_sql("CREATE USER a IDENTIFIED FOO\n", "f.sql")
    assert result.not_translated == [
        "f.sql:1: cannot parse: IDENTIFIED must be followed by BY, WITH or VIA"
    ]
