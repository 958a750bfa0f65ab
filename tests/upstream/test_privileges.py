from bridge.protocol.codec import lenenc_bytes
from bridge.upstream.privileges import grant_row, holds, kill_privileges, privilege_query


def test_the_privileges_that_kill_other_users_threads_follow_the_upstream_version() -> None:
    assert kill_privileges("5.5.5-10.11.19-MariaDB-0+deb12u1") == ("SUPER", "CONNECTION ADMIN")
    assert kill_privileges("5.5.5-10.5.2-MariaDB") == ("SUPER", "CONNECTION ADMIN")
    assert kill_privileges("5.5.5-10.5.1-MariaDB") == ("SUPER",)
    assert kill_privileges("10.4.32-MariaDB") == ("SUPER",)
    assert kill_privileges("11.4.2-MariaDB") == ("CONNECTION ADMIN",)  # SUPER alone: refused
    assert kill_privileges("8.0.36") == ("SUPER", "CONNECTION_ADMIN")  # MySQL
    assert kill_privileges("") == ("SUPER", "CONNECTION_ADMIN")


def test_the_question_names_the_sessions_own_account_and_the_privileges() -> None:
    query = privilege_query(b"\x01" * 16, ("SUPER", "CONNECTION ADMIN"))
    assert query.startswith(b"SELECT X'" + b"01" * 16 + b"' AS t, CAST(COUNT(*) AS BINARY)")
    assert b"information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT(" in query
    assert b"PRIVILEGE_TYPE IN ('SUPER', 'CONNECTION ADMIN')" in query
    assert query.endswith(b" LIMIT 1")


# SHOW GRANTS rows as MariaDB 10.11 sent them for an account whose default role
# `outer_r` holds `killer`, which holds CONNECTION ADMIN (the hash is the test's).
ROWS = [
    b"GRANT `plain_r` TO `dev`@`%`",
    b"GRANT `outer_r` TO `dev`@`%`",
    b"GRANT USAGE ON *.* TO `dev`@`%` IDENTIFIED BY PASSWORD "
    b"'*D821809F681A40A6E379B50D0463EFAE20BDD122'",
    b"GRANT SELECT ON `test2`.* TO `dev`@`%`",
    b"GRANT `killer` TO `outer_r`",
    b"GRANT USAGE ON *.* TO `outer_r`",
    b"GRANT CONNECTION ADMIN ON *.* TO `killer`",
]
MARIADB_10_11 = ("SUPER", "CONNECTION ADMIN")


def test_a_global_grant_to_the_current_role_counts() -> None:
    assert holds(ROWS, MARIADB_10_11)
    assert not holds(ROWS[:-1], MARIADB_10_11)  # without the role's grant: no


def test_only_global_grants_of_the_privileges_or_all_count() -> None:
    assert holds([b"GRANT SELECT, SUPER, PROCESS ON *.* TO `a`@`%`"], MARIADB_10_11)
    assert holds([b"GRANT ALL PRIVILEGES ON *.* TO `a`@`%` WITH GRANT OPTION"], MARIADB_10_11)
    assert not holds([b"GRANT ALL PRIVILEGES ON `db`.* TO `a`@`%`"], MARIADB_10_11)
    assert not holds([b"GRANT PROCESS, READ_ONLY ADMIN ON *.* TO `a`@`%`"], MARIADB_10_11)
    assert not holds([b"GRANT SUPER ON *.* TO `a`@`%`"], ("CONNECTION ADMIN",))  # MariaDB 11
    assert not holds([b"GRANT `CONNECTION ADMIN` TO `a`@`%`"], MARIADB_10_11)  # a role's name


def test_a_name_that_reads_as_a_global_grant_is_no_grant() -> None:
    """Rows as MariaDB 10.11 wrote them for grants on a column, a table, a database and a
    proxied user, and for a role, each named to look like a global grant of SUPER."""
    rows = [
        b"GRANT SELECT (`a, SUPER ON *.* TO b`) ON `app`.`t` TO `dev`@`%`",
        b"GRANT SELECT ON `app`.`x, CONNECTION ADMIN ON *.* TO y` TO `dev`@`%`",
        b"GRANT SELECT ON `a, SUPER ON *.* TO b`.* TO `dev`@`%`",
        b"GRANT PROXY ON 'a, SUPER ON *.* TO b'@'%' TO 'dev'@'%'",
        b"GRANT `a, SUPER ON *.* TO b` TO `dev`@`%`",
        b'GRANT SELECT ON "app"."x, SUPER ON *.* TO y" TO "dev"@"%"',  # ANSI_QUOTES
    ]
    assert not any(holds([row], MARIADB_10_11) for row in rows)
    assert holds([b"GRANT PROCESS, READ_ONLY ADMIN, SUPER ON *.* TO `a`@`%`"], MARIADB_10_11)


def test_only_a_one_string_row_is_a_grant() -> None:
    assert grant_row(lenenc_bytes(ROWS[6])) == ROWS[6]
    assert grant_row(lenenc_bytes(b"def") + lenenc_bytes(b"")) is None  # a column definition
    assert grant_row(b"\x01") is None  # the column count
    assert grant_row(b"\xfe\x00\x00\x02\x00") is None  # EOF
    assert grant_row(lenenc_bytes(b"SET DEFAULT ROLE `outer_r` FOR `dev`@`%`")) is None
