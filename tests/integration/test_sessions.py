"""What happens after the login: queries, transactions, prepared statements, 20 MB blobs,
and COM_CHANGE_USER, with each client library through the bridge."""

from __future__ import annotations

import os
from typing import Any

import pytest

from sandbox.mariadb import MariaDB
from tests.integration.harness import Bridge, closing, connect, error_of, scalar

pytestmark = pytest.mark.integration
CLIENTS = ["pymysql", "connector", "mysqlclient"]


@pytest.fixture(scope="module")
def table(mariadb: MariaDB) -> str:
    mariadb.sql(
        "CREATE TABLE IF NOT EXISTS shop.items (id INT PRIMARY KEY, body LONGBLOB) ENGINE=InnoDB"
    )
    return "shop.items"


@pytest.mark.parametrize("client", CLIENTS)
def test_transaction_commit_and_rollback(bridge: Bridge, table: str, client: str) -> None:
    base = {"pymysql": 100, "connector": 200, "mysqlclient": 300}[client]
    with closing(connect(client, bridge, "nat", "nat-pw", "tls")) as conn:
        cur = conn.cursor()
        cur.execute(f"DELETE FROM {table} WHERE id IN ({base}, {base + 1})")
        conn.commit()
        cur.execute(f"INSERT INTO {table} VALUES ({base}, 'kept')")
        conn.commit()
        cur.execute(f"INSERT INTO {table} VALUES ({base + 1}, 'gone')")
        conn.rollback()
        cur.execute(f"SELECT id FROM {table} WHERE id IN ({base}, {base + 1}) ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [base]


@pytest.mark.parametrize("client", CLIENTS)
def test_prepared_statement(bridge: Bridge, client: str) -> None:
    with closing(connect(client, bridge, "app", "app-pw", "tls")) as conn:
        if client == "connector":
            cur = conn.cursor(prepared=True)  # binary protocol: COM_STMT_PREPARE/EXECUTE
            cur.execute("SELECT ? + 1, CURRENT_USER()", (41,))
            assert cur.fetchone() == (42, "app@%")
        else:  # client-side parameters, then a server-side PREPARE
            assert scalar(conn, "SELECT %s + 1", (41,)) == 42
            cur = conn.cursor()
            cur.execute("PREPARE s FROM 'SELECT ? * 2'")
            cur.execute("SET @x = 21")
            cur.execute("EXECUTE s USING @x")
            assert cur.fetchone()[0] == 42


@pytest.mark.parametrize("client", CLIENTS)
def test_20_mb_blob_round_trip(bridge: Bridge, table: str, client: str) -> None:
    """Larger than one 16 MiB packet both ways: split and joined across the relay."""
    blob = os.urandom(20 * 1024 * 1024)
    key = {"pymysql": 10, "connector": 20, "mysqlclient": 30}[client]
    extra: dict[str, Any] = {"max_allowed_packet": 64 * 1024 * 1024} if client == "pymysql" else {}
    with closing(connect(client, bridge, "nat", "nat-pw", "tls", **extra)) as conn:
        cur = conn.cursor()
        cur.execute(f"REPLACE INTO {table} VALUES ({key}, %s)", (blob,))
        conn.commit()
        cur.execute(f"SELECT body, LENGTH(body), SHA2(body, 256) FROM {table} WHERE id = {key}")
        body, length, digest = cur.fetchone()
        import hashlib

        assert length == len(blob) and digest == hashlib.sha256(blob).hexdigest()
        assert bytes(body) == blob


def test_many_queries_on_one_session(bridge: Bridge) -> None:
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tcp")) as conn:
        for i in range(300):
            assert scalar(conn, f"SELECT {i}") == i


def test_change_user_with_connector(bridge: Bridge) -> None:
    with closing(connect("connector", bridge, "app", "app-pw", "tls")) as conn:
        conn.cmd_change_user(username="nat", password="nat-pw")
        assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
        conn.cmd_change_user(username="sha", password="sha-pw")
        assert scalar(conn, "SELECT CURRENT_USER()") == "sha@%"


@pytest.mark.parametrize(("first", "second"), [("app", "nat"), ("nat", "app"), ("nat", "nat")])
def test_change_user_with_libmariadb(bridge: Bridge, first: str, second: str) -> None:
    passwords = {"app": "app-pw", "nat": "nat-pw"}
    with closing(connect("mysqlclient", bridge, first, passwords[first], "tls")) as conn:
        conn.change_user(second, passwords[second])
        assert scalar(conn, "SELECT CURRENT_USER()") == f"{second}@%"


def test_failed_change_user_keeps_the_account(bridge: Bridge) -> None:
    """As MariaDB: the account stays, its variables are reset (test_change_user_reset.py)."""
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tls")) as conn:
        scalar(conn, "SET @kept = 7")
        with pytest.raises(Exception) as err:
            conn.change_user("app", "wrong")
        assert error_of(err.value) == (
            1045,
            "Access denied for user 'app'@'localhost' (using password: YES)",
        )
        assert scalar(conn, "SELECT CONCAT(CURRENT_USER(), ' ', @kept IS NULL)") == "nat@% 1"


def test_change_user_refused_after_three_failures(bridge: Bridge) -> None:
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tls")) as conn:
        for _ in range(3):
            with pytest.raises(Exception) as err:
                conn.change_user("app", "wrong")
            assert error_of(err.value)[0] == 1045
        with pytest.raises(Exception) as err:
            conn.change_user("app", "app-pw")
        assert error_of(err.value)[0] == 1047  # as MariaDB: Unknown command
        assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"


def test_change_user_resets_session_state(bridge: Bridge) -> None:
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tls")) as conn:
        scalar(conn, "SET @v = 1")
        conn.change_user("nat", "nat-pw")
        assert scalar(conn, "SELECT @v") is None
