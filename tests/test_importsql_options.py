"""import-sql reads the options after the accounts of CREATE USER, GRANT and CREATE ROLE by
their grammar: every token of a statement is read by a clause or the statement is reported
NOT TRANSLATED (file:line, exit 1). Text after a recognised clause (a second list of
accounts after the options, an IDENTIFIED after them, a stray word) is never dropped."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.importsql import NO_CREATE_USER, RANDOM, import_sql

NATIVE = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"  # PASSWORD('hashcat')
NEXT = f"CREATE USER `next`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'"

# Statements MySQL and MariaDB refuse (ERROR 1064, tests/integration/test_import_sql_options.py
# runs them on MariaDB), and which the old reader took in part: the account after the
# options, the second IDENTIFIED, the stray words were dropped, the first account imported.
MISREAD = [
    ("CREATE USER 'a'@'%' IDENTIFIED BY 'x' ACCOUNT LOCK, 'b'@'%' IDENTIFIED BY 'y'",
     "unexpected ',' after the ACCOUNT option: the accounts come before the options"),
    ("CREATE USER 'a'@'%' IDENTIFIED BY 'x' COMMENT 'c', 'b'@'%' IDENTIFIED BY 'y'",
     "unexpected ',' after the COMMENT option"),
    ("CREATE USER 'a'@'%' IDENTIFIED BY 'x' ACCOUNT UNLOCK IDENTIFIED BY 'y'",
     "unexpected 'IDENTIFIED' after the ACCOUNT option"),
    ("CREATE USER 'a'@'%' IDENTIFIED BY 'x' WITH GRANT OPTION",
     "WITH must be followed by MAX_QUERIES_PER_HOUR or"),
    ("CREATE USER 'a'@'%' IDENTIFIED BY 'x' ACCOUNT LOCK ROLE r",
     "unexpected 'ROLE' after the ACCOUNT option"),
    ("CREATE USER 'a'@'%' IDENTIFIED BY 'x' REQUIRE SSL , 'b'@'%'",
     "unexpected ',' after the REQUIRE option"),
    ("CREATE USER 'a'@'%' IDENTIFIED BY 'x' PASSWORD EXPIRE INTERVAL 90 junk",
     "INTERVAL n must be followed by DAY, not 'junk'"),
    ("CREATE USER 'a'@'%' IDENTIFIED BY secret", "IDENTIFIED BY must be followed by a quoted"),
    ("CREATE USER 'a'@'%' IDENTIFIED WITH sha256_password BY s3cret",
     "BY must be followed by a quoted string, not a word (not shown: it may be the password)"),
    ("CREATE USER 'a'@'%' IDENTIFIED VIA ed25519 USING PASSWORD(s3cret)",
     "PASSWORD( must be followed by a quoted string, not a word (not shown"),
    ("CREATE USER 'a'@'%' IDENTIFIED WITH mysql_native_password AS , 'b'@'%'",
     "expected a quoted string or 0x..., got ','"),
    ("CREATE USER 'a'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('x' 'y')",
     "PASSWORD('...' must be followed by ), not \"'y'\""),
    ("CREATE USER 'a'@'%' IDENTIFIED VIA pam OR unix_socket USING junk",
     "expected a quoted string or 0x..., got 'junk'"),
    ("CREATE USER 'a'@'%' IDENTIFIED WITH caching_sha2_password INITIAL AUTHENTICATION"
     " IDENTIFIED BY RANDOM PASSWORD", "unexpected 'INITIAL'"),
    ("GRANT SELECT ON *.* TO 'a'@'%' WITH GRANT OPTION, 'b'@'%'",
     "unexpected ',' after the WITH option"),
    ("GRANT SELECT ON *.* TO 'a'@'%' AS 'root'@'localhost' WITH ROLE ALL junk",
     "unexpected 'junk' after the AS option"),
    ("CREATE ROLE r WITH ADMIN CURRENT_USER junk", "unexpected 'junk' after the WITH option"),
    ("SET DEFAULT ROLE r FOR 'a'@'%' junk", "unexpected 'junk' after SET DEFAULT ROLE"),
    ("SET DEFAULT ROLE r junk", "unexpected 'junk' after SET DEFAULT ROLE"),
]  # fmt: skip


@pytest.mark.parametrize(("statement", "reason"), MISREAD, ids=range(len(MISREAD)))
def test_text_after_a_clause_is_reported_never_dropped(statement: str, reason: str) -> None:
    result = import_sql(f"{statement}\n{NEXT}\n", "f.sql")
    assert [a["user"] for a in result.accounts] == ["next"]  # the next line is still read
    assert len(result.not_translated) == 1, result.not_translated
    assert result.not_translated[0].startswith("f.sql:1: cannot parse: "), result.not_translated
    assert reason in result.not_translated[0]
    assert "secret" not in result.not_translated[0].split("cannot parse")[1]  # never echoed
    assert result.skipped == []


def test_a_random_password_is_not_imported_as_the_word_random() -> None:
    sql = "CREATE USER 'r'@'%' IDENTIFIED BY RANDOM PASSWORD, 's'@'%' IDENTIFIED WITH"\
          " sha256_password BY RANDOM PASSWORD PASSWORD EXPIRE\n"  # fmt: skip
    result = import_sql(sql, "f.sql")
    assert result.accounts == []
    assert result.not_translated == [f"f.sql:1: 'r'@'%': {RANDOM}", f"f.sql:1: 's'@'%': {RANDOM}"]


# Every option form of MySQL 8.0/8.4's and MariaDB 10.11's CREATE USER / GRANT / CREATE
# ROLE grammar, as the servers print them or a DBA writes them: all read, nothing reported.
UNDERSTOOD = [
    f"CREATE USER a IDENTIFIED BY PASSWORD '{NATIVE}' REQUIRE NONE PASSWORD EXPIRE DEFAULT"
    " ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT PASSWORD REUSE INTERVAL DEFAULT"
    " PASSWORD REQUIRE CURRENT DEFAULT",
    f"CREATE USER a IDENTIFIED BY PASSWORD '{NATIVE}' REQUIRE SSL ACCOUNT LOCK PASSWORD EXPIRE",
    f"CREATE USER a IDENTIFIED BY PASSWORD '{NATIVE}' REQUIRE ISSUER '/C=SE/CN=ca'"
    " SUBJECT '/CN=m' CIPHER 'AES256-SHA' WITH MAX_QUERIES_PER_HOUR 3"
    " MAX_STATEMENT_TIME 1.500000 ACCOUNT LOCK PASSWORD EXPIRE INTERVAL 90 DAY",
    f"CREATE USER a IDENTIFIED BY PASSWORD '{NATIVE}' REQUIRE X509 AND ISSUER 'i'"
    " PASSWORD REUSE INTERVAL 30 DAY PASSWORD HISTORY 3 PASSWORD REQUIRE CURRENT"
    " FAILED_LOGIN_ATTEMPTS 4 PASSWORD_LOCK_TIME 2 COMMENT 'x'",
    f"CREATE USER IF NOT EXISTS a IDENTIFIED BY PASSWORD '{NATIVE}', b DEFAULT ROLE r1, `r2`@`%`"
    " PASSWORD EXPIRE NEVER PASSWORD REQUIRE CURRENT OPTIONAL",
    "CREATE ROLE r WITH ADMIN CURRENT_USER",
    "CREATE ROLE IF NOT EXISTS r1, r2",
    "CREATE OR REPLACE ROLE r WITH ADMIN 'a'@'%'",
    "SET DEFAULT ROLE ALL TO a, b",
    "SET DEFAULT ROLE NONE FOR a",
    "SET DEFAULT ROLE r",
    "GRANT SELECT ON *.* TO a, b REQUIRE SSL WITH GRANT OPTION MAX_USER_CONNECTIONS 2",
    "GRANT r1, r2 TO a WITH ADMIN OPTION",
    "GRANT SELECT ON db.* TO a AS 'root'@'localhost' WITH ROLE ALL EXCEPT r1, r2",
    "GRANT SELECT ON db.* TO a AS 'root'@'localhost' WITH ROLE NONE",
    "GRANT SELECT ON db.* TO a WITH GRANT OPTION AS root WITH ROLE r1",
    "GRANT SELECT ON mysql.db TO PUBLIC",
]


@pytest.mark.parametrize("statement", UNDERSTOOD, ids=range(len(UNDERSTOOD)))
def test_every_option_form_is_read(statement: str) -> None:
    result = import_sql(statement, "f.sql")
    assert not [line for line in result.not_translated if "cannot parse" in line]
    refusals = ("ACCOUNT LOCK", "checks no client certificate")  # read, then refused
    assert not [ln for ln in result.not_translated if not any(r in ln for r in refusals)]


def test_a_grant_that_sets_a_password(tmp_path: Path) -> None:
    """MariaDB's SHOW GRANTS repeats the account's hash (IDENTIFIED BY PASSWORD): nothing
    changes. A GRANT that says another password changes the account, as ALTER USER would;
    one for an account the text never creates would lose it, as GRANT was all there was."""
    sql = (
        f"CREATE USER `same`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'\n"
        f"GRANT USAGE ON *.* TO `same`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'\n"
        f"CREATE USER `other`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'\n"
        "GRANT SELECT ON *.* TO `other`@`%` IDENTIFIED BY 'new-password'\n"
        f"GRANT USAGE ON *.* TO `lone`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'\n"
    )
    result = import_sql(sql, "f.sql")
    assert [a["user"] for a in result.accounts] == ["same"]
    assert result.not_translated == [
        f"f.sql:5: 'lone'@'%': {NO_CREATE_USER}",
        "f.sql:3: 'other'@'%': changed afterwards (f.sql:4: GRANT ... IDENTIFIED): not imported,"
        " since its password or state would be what CREATE USER said, not the server's (import"
        " SHOW CREATE USER as it is now)",
    ]


def test_the_cli_exits_1_and_names_the_line(tmp_path: Path) -> None:
    sql = tmp_path / "users.sql"
    sql.write_text(f"{NEXT}\n{MISREAD[0][0]};\n")
    done = subprocess.run([sys.executable, "-m", "bridge", "import-sql", str(sql), "-o",
                           str(tmp_path / "accounts.yaml")], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"NOT TRANSLATED: {sql}:2: cannot parse: unexpected ',' after the ACCOUNT option: the "
        "accounts come before the options"
    ]
    assert "user: next" in (tmp_path / "accounts.yaml").read_text()
    assert "user: a\n" not in (tmp_path / "accounts.yaml").read_text()


# --- properties --------------------------------------------------------------------------

SPECS = [
    f"IDENTIFIED BY PASSWORD '{NATIVE}'",
    f"IDENTIFIED WITH mysql_native_password AS '{NATIVE}'",
    "IDENTIFIED BY 'pw'",
    "IDENTIFIED VIA unix_socket",
    "",
]
CERTIFICATE = "REQUIRE ISSUER 'i' AND SUBJECT 's'"
OPTIONS = [
    "REQUIRE NONE", "REQUIRE SSL", CERTIFICATE,
    "WITH MAX_QUERIES_PER_HOUR 3 MAX_USER_CONNECTIONS 2", "PASSWORD EXPIRE",
    "PASSWORD EXPIRE INTERVAL 9 DAY", "PASSWORD HISTORY 2", "PASSWORD REUSE INTERVAL DEFAULT",
    "PASSWORD REQUIRE CURRENT OPTIONAL", "FAILED_LOGIN_ATTEMPTS 3", "PASSWORD_LOCK_TIME UNBOUNDED",
    "ACCOUNT UNLOCK", "COMMENT 'c'", "ATTRIBUTE '{}'", "DEFAULT ROLE `r`@`%`",
]  # fmt: skip
# The options that keep the account out (the first that applies is the reason given).
REFUSED = {CERTIFICATE: "checks no client certificate", "PASSWORD EXPIRE": "has expired"}
# Never an option: each, after the options, is text MySQL and MariaDB refuse.
MISPLACED = [
    ", `late`@`%` IDENTIFIED BY 'y'", "IDENTIFIED BY 'z'", "junk", "'a string'", ",",
    "AS 'x'", "WITH GRANT OPTION", "ACCOUNT", "OR unix_socket", "@", ")", "PASSWORD",
    "AND IDENTIFIED WITH authentication_fido",
]  # fmt: skip


def create_user(specs: list[int], options: list[int]) -> tuple[str, list[str]]:
    """DEFAULT ROLE first, as MySQL takes it (after PASSWORD EXPIRE, DEFAULT is EXPIRE's)."""
    options = sorted(options, key=lambda o: not OPTIONS[o].startswith("DEFAULT ROLE"))
    names = [f"u{i}" for i in range(len(specs))]
    accounts = ", ".join(
        f"`{n}`@`%` {SPECS[s]}".rstrip() for n, s in zip(names, specs, strict=True)
    )
    return " ".join(["CREATE USER", accounts, *(OPTIONS[o] for o in options)]), names


def accounted_for(sql: str, names: list[str]) -> None:
    """Each account of the text is imported or named in a NOT TRANSLATED line, or its whole
    statement is (cannot parse): none vanishes."""
    result = import_sql(sql, "f.sql")
    imported = {a["user"] for a in result.accounts}
    reported = " ".join(result.not_translated)
    whole = "f.sql:1: cannot parse" in reported
    for name in names:
        assert whole or name in imported or f"'{name}'@" in reported, (sql, result)


SPEC_PICKS = st.lists(st.integers(0, len(SPECS) - 1), min_size=1, max_size=3)
OPTION_PICKS = st.lists(st.integers(0, len(OPTIONS) - 1), max_size=5)


@settings(max_examples=300, deadline=None)
@given(specs=SPEC_PICKS, options=OPTION_PICKS)
def test_a_well_formed_create_user_is_read_to_its_last_token(
    specs: list[int], options: list[int]
) -> None:
    sql, names = create_user(specs, options)
    result = import_sql(sql, "f.sql")
    picked = {OPTIONS[o] for o in options}
    refusal = next((why for option, why in REFUSED.items() if option in picked), None)
    if refusal is not None:  # read to its end, then refused
        assert len(result.not_translated) == len(names), sql
        assert all(refusal in ln for ln in result.not_translated)
        assert result.accounts == []
        return
    assert result.not_translated == [], sql
    assert [a["user"] for a in result.accounts] == names


@settings(max_examples=300, deadline=None)
@given(
    specs=SPEC_PICKS,
    options=st.lists(st.integers(0, len(OPTIONS) - 1), min_size=1, max_size=5),
    junk=st.sampled_from(MISPLACED),
    at=st.integers(0, 5),
)
def test_text_among_the_options_that_no_option_reads_is_reported(
    specs: list[int], options: list[int], junk: str, at: int
) -> None:
    """Put after the first option clause (or later): the statement is NOT TRANSLATED and
    none of its accounts is imported."""
    at = max(1, min(at, len(options)))
    options = sorted(options, key=lambda o: not OPTIONS[o].startswith("DEFAULT ROLE"))
    clauses = [OPTIONS[o] for o in options]
    sql, _ = create_user(specs, [])
    sql = " ".join([sql, *clauses[:at], junk, *clauses[at:]])
    result = import_sql(sql, "f.sql")
    assert result.accounts == [], sql
    assert len(result.not_translated) == 1 and "f.sql:1: cannot parse: " in result.not_translated[0]


@settings(max_examples=500, deadline=None)
@given(
    specs=SPEC_PICKS,
    options=OPTION_PICKS,
    junk=st.sampled_from(MISPLACED + OPTIONS + SPECS[:4]),
    at=st.integers(2, 60),
)
@example(specs=[2, 4], options=[], junk="DEFAULT ROLE `r`@`%`", at=8)  # u1 is then a role
def test_every_token_is_read_or_the_statement_reported(
    specs: list[int], options: list[int], junk: str, at: int
) -> None:
    """Any fragment at any token boundary after CREATE USER: each account is imported,
    or named NOT TRANSLATED, or its statement is; the fragment's own account ('late')
    too. Whatever is imported is exactly an account of the text."""
    sql, names = create_user(specs, options)
    tokens = re.findall(r"`[^`]*`|'[^']*'|[^\s,@]+|[,@]", sql)
    at = min(at, len(tokens))
    sql = " ".join([*tokens[:at], junk, *tokens[at:]])
    if junk.startswith("DEFAULT ROLE") and tokens[at : at + 1] == [","]:
        # DEFAULT ROLE takes a list: `r`@`%` , `u1`@`%` names two roles, and the accounts
        # written after it are roles in this text (MySQL reads them so), not accounts
        names = [n for n in names if f"`{n}`" not in tokens[at:]]
    accounted_for(sql, names + (["late"] if "late" in junk else []))
    imported = [a["user"] for a in import_sql(sql, "f.sql").accounts]
    assert set(imported) <= {*names, "late"}
