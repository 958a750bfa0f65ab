"""import-sql: SHOW CREATE USER / SHOW GRANTS output from MySQL and MariaDB -> accounts YAML."""

from pathlib import Path

import pytest
import yaml

from bridge.backends.store import stored_hash
from bridge.importsql import CHANGED, RANDOM, Result, SqlSyntaxError, import_sql, to_yaml, tokenize
from bridge.mapping.accounts import AccountRow
from bridge.mapping.proxy import ProxyGrants
from bridge.runtime import load_accounts

NATIVE = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"

MYSQL_8 = """
CREATE USER `app`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 0x24412430303524F9CC98CE08892924F50A213B6BC571A2C11778C5625479393559393965414D45316477456B484F41316E64484742577A2E3162785353526B7554584647562F REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK PASSWORD HISTORY DEFAULT PASSWORD REUSE INTERVAL DEFAULT;
CREATE USER 'report'@'10.%' IDENTIFIED WITH 'mysql_native_password' AS '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19';
CREATE USER `svc`@`10.0.0.0/255.0.0.0` IDENTIFIED WITH sha256_password BY 'clear-text';
GRANT PROXY ON `report`@`10.%` TO `app`@`%`;
GRANT USAGE ON *.* TO `app`@`%`;
"""

MARIADB = """
/* MariaDB 10.11 */
CREATE USER `old`@`localhost` IDENTIFIED BY PASSWORD '*0D3CED9BEC10A777AEC23CCC353A8C08A633045E';
CREATE USER 'np'@'%';
CREATE USER 'ed'@'%' IDENTIFIED VIA parsec USING PASSWORD('secret');
CREATE USER 'two'@'%' IDENTIFIED VIA mysql_native_password USING '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' OR unix_socket;
CREATE USER 'locked'@'%' IDENTIFIED BY 'x' ACCOUNT LOCK;
SET PASSWORD FOR 'old'@'localhost' = PASSWORD('x');
"""


def load(result: Result, tmp_path: Path) -> tuple[dict[tuple[str, str], AccountRow], ProxyGrants]:
    path = tmp_path / "accounts.yaml"
    path.write_text(to_yaml(result))
    rows, grants = load_accounts((path,))
    return {(r.user, r.host): r for r in rows}, grants


def test_mysql_8_statements(tmp_path: Path) -> None:
    result = import_sql(MYSQL_8, "dump.sql")
    rows, grants = load(result, tmp_path)
    assert set(rows) == {("app", "%"), ("report", "10.%"), ("svc", "10.0.0.0/255.0.0.0")}
    app = rows[("app", "%")]
    assert stored_hash(app.plugin, app.authentication_string).matches(
        b"hashcat"
    )  # binary salt kept
    svc = rows[("svc", "10.0.0.0/255.0.0.0")]
    assert svc.plugin == "sha256_password"
    assert stored_hash(svc.plugin, svc.authentication_string).matches(
        b"clear-text"
    )  # hashed on import
    assert [(g.proxy_user, g.proxied_user, g.proxied_host) for g in grants.grants] == [
        ("app", "report", "10.%")
    ]
    assert result.skipped == ["dump.sql:6: privileges stay on the upstream server"]
    assert result.not_translated == []


def test_mariadb_statements_and_every_refusal_is_reported() -> None:
    result = import_sql(MARIADB, "maria.sql")
    assert [(a["user"], a["plugin"]) for a in result.accounts] == [("np", "mysql_native_password")]
    assert result.accounts[0]["authentication_string"] == ""
    text = "\n".join(result.not_translated)
    assert "maria.sql:5: 'ed'@'%': plugin 'parsec' is not supported" in text
    assert "maria.sql:6: 'two'@'%': several authentication methods" in text
    assert "maria.sql:7: 'locked'@'%': ACCOUNT LOCK" in text
    # 'old' gets another password after its CREATE USER: imported as created, it would
    # log in with the old one; it is left out and reported.
    assert "maria.sql:3: 'old'@'localhost': changed afterwards (maria.sql:8: SET PASSWORD)" in text
    assert len(result.not_translated) == 4
    assert result.skipped == [
        "maria.sql:8: SET PASSWORD 'old'@'localhost': nothing to import (an account of this "
        "file that it changes is left out, as reported)"
    ]


def test_an_account_changed_after_its_create_user_is_not_imported_with_its_first_state() -> None:
    """The provisioning idiom: a bare CREATE USER, then ALTER USER sets the password or the
    lock. Imported from the CREATE alone, 'app' would have no password and 'old' no lock."""
    sql = (
        "CREATE USER IF NOT EXISTS `app`@`%`;\n"
        "ALTER USER `app`@`%` IDENTIFIED WITH 'mysql_native_password' AS "
        f"'{NATIVE}' REQUIRE NONE;\n"
        f"CREATE USER 'old'@'%' IDENTIFIED BY PASSWORD '{NATIVE}';\n"
        "ALTER USER 'old'@'%' ACCOUNT LOCK;\n"
        f"CREATE USER 'kept'@'%' IDENTIFIED BY PASSWORD '{NATIVE}';\n"
        "RENAME USER 'gone'@'%' TO 'kept2'@'%', 'x'@'%' TO 'y'@'%';\n"
        "DROP USER IF EXISTS 'z'@'%', 'kept3'@'%';\n"
    )
    result = import_sql(sql, "pt.sql")
    assert [a["user"] for a in result.accounts] == ["kept"]
    assert result.not_translated == [
        f"pt.sql:1: 'app'@'%': {CHANGED.format(changes='pt.sql:2: ALTER USER')}",
        f"pt.sql:3: 'old'@'%': {CHANGED.format(changes='pt.sql:4: ALTER USER')}",
    ]
    skipped = "\n".join(result.skipped)
    assert "pt.sql:6: RENAME USER 'gone'@'%', 'kept2'@'%', 'x'@'%', 'y'@'%': nothing" in skipped
    assert "pt.sql:7: DROP USER 'z'@'%', 'kept3'@'%': nothing" in skipped
    with pytest.raises(SqlSyntaxError, match="SET PASSWORD without FOR"):
        import_sql_strict("SET PASSWORD = 'x'")


def import_sql_strict(sql: str) -> Result:
    result = import_sql(sql, "s.sql")
    for line in result.not_translated:
        raise SqlSyntaxError(line)
    return result


def test_grant_to_an_account_not_imported_is_reported() -> None:
    result = import_sql(
        "CREATE USER ''@'' IDENTIFIED WITH nope AS 'x'; GRANT PROXY ON 'a'@'%' TO ''@'';"
    )
    assert result.grants == {}
    assert any(
        "GRANT PROXY ON 'a'@'%' TO ''@'': ''@'' was not imported" in line
        for line in result.not_translated
    )


@pytest.mark.parametrize("grantee", ["CURRENT_USER()", "CURRENT_USER", "current_user ( )"])
def test_a_grant_to_current_user_is_skipped(grantee: str) -> None:
    """mariadb-dump --system=users: `GRANT mariadb_dump_import_role TO CURRENT_USER()`."""
    result = import_sql(f"GRANT mariadb_dump_import_role TO {grantee};")
    assert (result.not_translated, result.accounts) == ([], [])
    assert result.skipped == ["-:1: privileges stay on the upstream server"]


def test_a_user_named_current_user_is_still_an_account() -> None:
    """Quoted, it is a name: its GRANT ... IDENTIFIED is read as for any account."""
    result = import_sql(
        f"GRANT USAGE ON *.* TO CURRENT_USER(), 'CURRENT_USER'@'%' IDENTIFIED BY PASSWORD "
        f"'{NATIVE}';"
    )
    assert [line.split(": ")[1] for line in result.not_translated] == ["'CURRENT_USER'@'%'"]


def test_grant_proxy_to_several_accounts() -> None:
    result = import_sql("CREATE USER a IDENTIFIED WITH mysql_native_password; CREATE USER b@localhost;"
                        "GRANT PROXY ON 'x'@'%' TO a, 'b'@'localhost' WITH GRANT OPTION;")  # fmt: skip
    assert result.grants == {"'a'@'%'": ["'x'@'%'"], "'b'@'localhost'": ["'x'@'%'"]}


def test_quotes_comments_and_semicolons_inside_strings() -> None:
    sql = "-- c;\nCREATE USER 'o''brien;'@'%' /* ; */ IDENTIFIED WITH mysql_native_password AS '';"
    result = import_sql(sql)
    assert [a["user"] for a in result.accounts] == ["o'brien;"]


@pytest.mark.parametrize(
    "bad", ["CREATE USER 'x'@'%' IDENTIFIED WITH", "CREATE USER 'unterminated"]
)
def test_broken_statements(bad: str) -> None:
    try:
        result = import_sql(bad)
    except SqlSyntaxError:
        return
    assert result.not_translated and not result.accounts


def test_tokenizer_rejects_garbage() -> None:
    with pytest.raises(SqlSyntaxError):
        tokenize("CREATE USER \\")


def test_yaml_output_is_readable() -> None:
    text = to_yaml(import_sql(MYSQL_8))
    assert "proxy: \"'app'@'%'\"" in text
    assert yaml.safe_load(text)["proxy_grants"][0]["proxied"] == ["'report'@'10.%'"]


def test_external_plugins_from_enterprise_percona_and_mariadb(tmp_path: Path) -> None:
    sql = """
    CREATE USER ''@'' IDENTIFIED WITH authentication_pam AS 'mysql, root=developer, users=data_entry';
    CREATE USER 'ldapuser'@'%' IDENTIFIED WITH authentication_ldap_simple BY 'uid=ldapuser,ou=people,dc=example,dc=com';
    CREATE USER 'karl'@'%' IDENTIFIED WITH authentication_kerberos BY 'EXAMPLE.COM';
    CREATE USER 'pammy'@'%' IDENTIFIED VIA pam USING 'mariadb';
    CREATE USER 'krb'@'%' IDENTIFIED VIA gssapi AS 'krb@EXAMPLE.COM';
    CREATE USER 'backup'@'localhost' IDENTIFIED VIA unix_socket;
    GRANT PROXY ON 'developer'@'localhost' TO ''@'';
    """
    result = import_sql(sql)
    plugins = {a["user"]: (a["plugin"], a["authentication_string"]) for a in result.accounts}
    assert plugins[""] == ("authentication_pam", "mysql, root=developer, users=data_entry")
    assert plugins["pammy"] == ("authentication_pam", "mariadb")
    assert plugins["krb"] == ("authentication_kerberos", "krb@EXAMPLE.COM")
    assert plugins["backup"] == ("auth_socket", "")
    assert plugins["ldapuser"] == (
        "authentication_ldap_simple",
        "uid=ldapuser,ou=people,dc=example,dc=com",
    )
    assert plugins["karl"] == ("authentication_kerberos", "EXAMPLE.COM")
    assert result.not_translated == []
    rows, grants = load(result, tmp_path)
    assert len(rows) == 6 and grants.grants[0].proxied_user == "developer"


def test_a_server_with_2000_users_imports_into_a_file_the_bridge_loads(tmp_path: Path) -> None:
    native = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
    sql = "".join(
        f"CREATE USER `u{i}`@`10.{i % 250}.%` IDENTIFIED BY PASSWORD '{native}';\n"
        f"GRANT PROXY ON `u{i}`@`10.{i % 250}.%` TO `u{(i + 1) % 2000}`@`10.{(i + 1) % 250}.%`;\n"
        for i in range(2000)
    )
    result = import_sql(sql, "users.sql")
    assert not result.not_translated
    path = tmp_path / "imported.yaml"
    path.write_text(to_yaml(result))
    rows, grants = load_accounts((path,))
    assert len(rows) == 2000 and len(grants.grants) == 2000
    assert len({row.source for row in rows}) == 2000  # each row knows its own line


def test_mysql_openid_connect_accounts(tmp_path: Path) -> None:
    """MySQL 9.1+'s OpenID Connect accounts, as SHOW CREATE USER prints them, and a proxy
    row mapping the token's groups."""
    sql = """
CREATE USER `alice`@`%` IDENTIFIED WITH 'authentication_openid_connect' AS '{"identity_provider": "myOpenIdProvider", "user": "0b1c2d3e"}' REQUIRE NONE;
CREATE USER ''@'%' IDENTIFIED WITH authentication_openid_connect AS '{"identity_provider": "corp", "mapping": "developers=developer"}';
GRANT PROXY ON 'developer'@'%' TO ''@'%';
CREATE USER 'eve'@'%' IDENTIFIED WITH authentication_openid_connect AS 'myOpenIdProvider';
"""
    result = import_sql(sql, "oidc.sql")
    assert len(result.not_translated) == 1 and "'eve'@'%': not JSON" in result.not_translated[0]
    rows, grants = load(result, tmp_path)
    alice = rows[("alice", "%")]
    assert alice.plugin == "authentication_openid_connect"
    assert (
        alice.authentication_string
        == b'{"identity_provider": "myOpenIdProvider", "user": "0b1c2d3e"}'
    )
    assert rows[("", "%")].plugin == "authentication_openid_connect"
    assert grants


# SHOW CREATE USER on MariaDB 10.11.19 for accounts made with PASSWORD EXPIRE, EXPIRE
# INTERVAL 90 DAY, EXPIRE NEVER and EXPIRE DEFAULT (MariaDB prints nothing for DEFAULT).
EXPIRY = f"""CREATE USER `exp`@`%` IDENTIFIED BY PASSWORD '{NATIVE}' PASSWORD EXPIRE
CREATE USER `days`@`%` IDENTIFIED BY PASSWORD '{NATIVE}' PASSWORD EXPIRE INTERVAL 90 DAY
CREATE USER `never`@`%` IDENTIFIED BY PASSWORD '{NATIVE}' PASSWORD EXPIRE NEVER
CREATE USER `dflt`@`%` IDENTIFIED BY PASSWORD '{NATIVE}'
CREATE USER `both`@`%` IDENTIFIED BY PASSWORD '{NATIVE}' ACCOUNT LOCK PASSWORD EXPIRE
"""


def test_an_expired_password_is_not_imported_and_a_lifetime_is_said_to_be_lost() -> None:
    """An expired account does nothing on the server until it sets a new password: imported,
    its old password would log in as before. A lifetime is a policy, not carried over: a
    `skipped:` line says so; NEVER and DEFAULT need no word."""
    result = import_sql(EXPIRY, "u.sql")
    assert [a["user"] for a in result.accounts] == ["days", "never", "dflt"]
    assert result.not_translated == [
        "u.sql:1: 'exp'@'%': PASSWORD EXPIRE: the password has expired on the server, which "
        "lets the account do nothing until it sets a new one; imported, the old password "
        "would log in as before (set a new password on the server and import SHOW CREATE "
        "USER again)",
        "u.sql:5: 'both'@'%': ACCOUNT LOCK: a locked account is not imported",
    ]
    assert result.skipped == [
        "u.sql:2: 'days'@'%': PASSWORD EXPIRE INTERVAL 90 DAY is not carried over (the bridge "
        "does not expire passwords: the password keeps working through it after that)"
    ]


@pytest.mark.parametrize(
    ("options", "expired"),
    [
        ("PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK", False),  # MySQL 8 prints DEFAULT always
        ("PASSWORD EXPIRE ACCOUNT UNLOCK", True),
        ("PASSWORD EXPIRE INTERVAL 5 DAY PASSWORD EXPIRE", True),  # bare anywhere: expired
        ("PASSWORD EXPIRE PASSWORD EXPIRE NEVER", True),
        ("COMMENT 'PASSWORD EXPIRE'", False),  # a string is no clause
    ],
)
def test_only_a_bare_password_expire_is_an_expired_password(options: str, expired: bool) -> None:
    result = import_sql(f"CREATE USER 'a'@'%' IDENTIFIED BY PASSWORD '{NATIVE}' {options};")
    assert bool(result.not_translated) is expired, result.not_translated
    assert (result.accounts == []) is expired


def test_a_random_password_is_reported_as_such_even_when_it_also_expires() -> None:
    result = import_sql("CREATE USER 'r'@'%' IDENTIFIED BY RANDOM PASSWORD PASSWORD EXPIRE;")
    assert result.not_translated == [f"-:1: 'r'@'%': {RANDOM}"]


def test_grants_on_the_anonymous_account_are_skipped_with_the_reason() -> None:
    """The install default (GRANT PROXY ON ''@'%' TO root ... WITH GRANT OPTION) lets root
    grant PROXY; no grant makes anyone the anonymous account: nothing to import, exit 0."""
    sql = (
        "CREATE USER `root`@`localhost`\n"
        "GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION\n"
        "GRANT PROXY ON ''@'localhost' TO 'root'@'localhost'\n"
    )
    result = import_sql(sql, "u.sql")
    assert result.grants == {} and result.not_translated == []
    assert result.skipped == [
        "u.sql:2: GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION: lets the "
        "grantee grant PROXY to others (the server's install default for root); nobody "
        "becomes the anonymous account, and granting stays on the upstream server",
        "u.sql:3: GRANT PROXY ON ''@'localhost' TO 'root'@'localhost': the anonymous account "
        "is never a proxied account (as in MySQL)",
    ]
    assert "proxy_grants" not in to_yaml(result)


def test_mysqls_install_default_is_skipped_too() -> None:
    """MySQL's mysql.proxies_priv row is ('localhost', 'root', '', '', with grant): the
    proxied host is empty too, and SHOW GRANTS prints it as ''@''."""
    result = import_sql(
        "CREATE USER 'root'@'localhost' IDENTIFIED WITH 'caching_sha2_password' AS '';\n"
        "GRANT PROXY ON ``@`` TO `root`@`localhost` WITH GRANT OPTION;\n",
        "my.sql",
    )
    assert result.grants == {} and result.not_translated == []
    assert result.skipped == [
        "my.sql:2: GRANT PROXY ON ''@'' TO 'root'@'localhost' WITH GRANT OPTION: lets the "
        "grantee grant PROXY to others (the server's install default for root); nobody "
        "becomes the anonymous account, and granting stays on the upstream server"
    ]
