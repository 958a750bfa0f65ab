"""Errors that concern the client's own request come back as mysqld sends them, and the
session goes on where mysqld's would: a COM_CHANGE_USER the upstream refuses (mysqlclient,
Node mariadb), clients without CLIENT_PLUGIN_AUTH (Node mysql), a charset that cannot be a
client's, an invalid database name, a connection-attribute block over 64 KiB. A refusal of
the bridge's own credentials is still 3169, and says so."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import MySQLdb
import pymysql
import pytest

from bridge.protocol.constants import Capability as C
from bridge.protocol.packets import HandshakeResponse41, build_handshake_response41, parse_err
from bridge.scramble import native_token
from sandbox.bridgeproc import Account
from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    ACCOUNTS,
    Bridge,
    bridge_attr,
    closing,
    connect,
    error_of,
    scalar,
)
from tests.integration.rawclient import CLIENT_CAPS, Raw

pytestmark = pytest.mark.integration
NODE_CLIENT = Path(__file__).parent.parent / "node" / "client.js"


def node(lib: str, port: int, user: str, password: str, steps: list[dict[str, Any]]) -> list[Any]:
    """Run tests/node/client.js: one JSON result for the connection, then one per step."""
    spec = {"lib": lib, "connect": {"host": "127.0.0.1", "port": port, "user": user,
                                    "password": password}, "steps": steps}  # fmt: skip
    done = subprocess.run(["node", str(NODE_CLIENT), json.dumps(spec)], capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines()]


# --- COM_CHANGE_USER refused by the upstream --------------------------------------------------


def test_change_user_to_an_unknown_database_keeps_the_session_mysqlclient(bridge: Bridge) -> None:
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tcp", database="shop")) as conn:
        conn.cursor().execute("SET @kept = 'yes'")
        with pytest.raises(MySQLdb.OperationalError) as caught:
            conn.change_user("app", "app-pw", "nope")
        assert error_of(caught.value) == (1049, "Unknown database 'nope'")
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER(), DATABASE(), @kept")
        # The user and database as they were; MariaDB itself resets the session's
        # variables on a failed COM_CHANGE_USER (the same query directly shows the same).
        assert cur.fetchone() == ("nat@%", "shop", None)
        conn.change_user("nat", "nat-pw", "shop")  # and it can still change
        assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
    assert "upstream refused the client's request as 'app'" in bridge.log


def test_change_user_refused_upstream_node_mariadb(bridge: Bridge, mariadb: MariaDB) -> None:
    """Node mariadb 3.5 sends '-' as the database: MariaDB answers 1049, and the library
    then closes the connection itself. Through the bridge it must see that same ERR (it
    saw ER_SOCKET_UNEXPECTED_CLOSE when the bridge hung up)."""
    steps = [{"changeUser": {"user": "nat", "password": "nat-pw"}}]
    direct = node(
        "mariadb",
        mariadb.port,
        "nat",
        "up-nat",
        [{"changeUser": {"user": "nat", "password": "up-nat"}}],
    )
    bridged = node("mariadb", bridge.port, "nat", "nat-pw", steps)
    assert direct[1]["error"]["errno"] == 1049
    assert bridged == direct


# --- clients without CLIENT_PLUGIN_AUTH ------------------------------------------------------


def test_node_mysql_without_plugin_auth(bridge: Bridge) -> None:
    """The old Node `mysql` speaks only mysql_native_password and cannot follow a switch:
    for a caching_sha2 account mysqld answers 1251, so does the bridge; native accounts
    log in, and its COM_CHANGE_USER (a native scramble in the request) works."""
    refused = node("mysql", bridge.port, "app", "app-pw", [])
    assert refused[0]["error"]["errno"] == 1251
    assert refused[0]["error"]["code"] == "ER_NOT_SUPPORTED_AUTH_MODE"
    steps: list[dict[str, Any]] = [
        {"query": "SELECT CURRENT_USER()"},
        {"changeUser": {"user": "local", "password": "local-pw"}},
        {"query": "SELECT CURRENT_USER()"},
        {"changeUser": {"user": "app", "password": "app-pw"}},
    ]
    native = node("mysql", bridge.port, "nat", "nat-pw", steps)
    assert native[:4] == [{"ok": "connected"}, {"ok": [["nat@%"]]}, {"ok": "changed"},
                          {"ok": [["local@%"]]}]  # fmt: skip
    # A caching_sha2 account: no switch possible. (Node mysql treats any failed
    # changeUser as fatal and drops the connection itself; test_sessions shows a refused
    # change keeping the session with the other clients.)
    assert native[4]["error"]["errno"] == 1251
    assert "no CLIENT_PLUGIN_AUTH" in bridge.log


# --- the client's own mistakes at login --------------------------------------------------------


def raw_login(port: int, password: bytes, charset: int = 45, attrs: Any = ()) -> bytes:
    raw = Raw.connect(port)
    greeting = raw.greeting()
    caps = CLIENT_CAPS | (C.CLIENT_CONNECT_ATTRS if attrs else 0)
    token = native_token(password, greeting.scramble[:20])
    hello = HandshakeResponse41(caps, 1 << 24, charset, "nat", token, None,
                                "mysql_native_password", attrs)  # fmt: skip
    raw.send(build_handshake_response41(hello), 1)
    payload = raw.read()[1]
    raw.close()
    return payload


@pytest.mark.parametrize(("charset", "name"), [(35, "ucs2"), (54, "utf16"), (60, "utf32")])
def test_a_charset_that_cannot_be_a_clients_is_1231(
    bridge: Bridge, mariadb: MariaDB, charset: int, name: str
) -> None:
    direct = parse_err(raw_login(mariadb.port, b"up-nat", charset))
    through = parse_err(raw_login(bridge.port, b"nat-pw", charset))
    assert through == direct
    assert (through.errno, through.message) == (
        1231, f"Variable 'character_set_client' can't be set to the value of '{name}'"
    )  # fmt: skip


def test_attribute_block_over_64_kib_is_a_bad_handshake(bridge: Bridge, mariadb: MariaDB) -> None:
    attrs = (("big", "a" * 70_000),)
    direct = parse_err(raw_login(mariadb.port, b"up-nat", attrs=attrs))
    through = parse_err(raw_login(bridge.port, b"nat-pw", attrs=attrs))
    assert (through.errno, through.sqlstate, through.message) == (1043, "08S01", "Bad handshake")
    assert through == direct
    ok = raw_login(bridge.port, b"nat-pw", attrs=(("big", "a" * 60_000),))
    assert ok[:1] == b"\0"  # under the limit, a login


def test_invalid_database_name_is_1102(bridge: Bridge) -> None:
    for database in ("a ", "x" * 70):
        with pytest.raises(pymysql.err.MySQLError) as caught:
            connect("pymysql", bridge, "nat", "nat-pw", "tcp", database=database)
        assert error_of(caught.value) == (1102, f"Incorrect database name '{database}'")


def test_client_mistakes_are_not_outages(make_bridge: Any) -> None:
    bridge = make_bridge()
    raw_login(bridge.port, b"nat-pw", charset=35)
    with pytest.raises(pymysql.err.MySQLError):
        connect("pymysql", bridge, "nat", "nat-pw", "tcp", database="a ")
    assert "WARNING" not in bridge.log
    assert "upstream refused the client's request as 'nat'" in bridge.log


def test_refused_bridge_credentials_name_the_account(make_bridge: Any, mariadb: MariaDB) -> None:
    mariadb.sql("CREATE USER IF NOT EXISTS 'stale'@'%' IDENTIFIED BY 'rotated-upstream'")
    stale = Account("stale", "stale-pw", "mysql_native_password", upstream_password="old")
    bridge = make_bridge(accounts=[*ACCOUNTS, stale])
    with pytest.raises(pymysql.err.MySQLError) as caught:
        connect("pymysql", bridge, "stale", "stale-pw", "tcp")
    assert error_of(caught.value) == (
        3169, "Upstream server is unavailable: it refused the bridge's credentials for account 'stale'"
    )  # fmt: skip
    lines = [line for line in bridge.log.splitlines() if "bridge.session" in line]
    refused = [line for line in lines if "refused" in line]
    assert len(refused) == 1 and "WARNING" in refused[0], refused
    assert "refused the bridge's credentials for account 'stale'" in refused[0]


# --- the log and the audit record name the client alike ------------------------------------


def test_log_and_audit_name_the_client_alike(make_bridge: Any) -> None:
    bridge = make_bridge(audit_log="audit.jsonl")
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as conn:
        assert scalar(conn, "SELECT 1") == 1
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "socket")) as conn:
        assert scalar(conn, "SELECT 1") == 1
    records = [json.loads(line) for line in bridge.audit_text().splitlines()]
    tcp, socket = records[-2:]
    assert (tcp["client"], tcp["client_name"]) == ("127.0.0.1", "localhost")
    assert (socket["client"], socket["client_name"]) == ("localhost", None)
    opened = [line for line in bridge.log.splitlines() if "session open" in line]
    assert opened[-2].endswith("client=127.0.0.1 (localhost)")
    assert opened[-1].endswith("client=localhost")


def test_what_the_session_shows_as_documented(bridge: Bridge) -> None:
    """docs/protocol.md, 'What the session shows': USER() is the mapped account,
    @@proxy_user is NULL, Ssl_version is the upstream leg's, the external user is in the
    connection attributes."""
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as conn:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER(), @@proxy_user")
        assert cur.fetchone() == ("nat@%", None)
        cur.execute("SHOW STATUS LIKE 'Ssl_version'")
        assert cur.fetchone()[1].startswith("TLSv1")  # the client leg has no TLS at all
        assert bridge_attr(conn, "bridge_external_user") == "nat"
        assert bridge_attr(conn, "bridge_transport") == "tcp"
        assert bridge_attr(conn, "bridge_connection_id") == str(conn.thread_id())
