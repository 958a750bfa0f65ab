from bridge.upstream.privileges import kill_privileges, privilege_query


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
