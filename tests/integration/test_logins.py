"""Every wire method with every client library over TCP, TLS and the Unix socket, through the
bridge to a real MariaDB: CURRENT_USER() upstream is the account the bridge chose."""

from __future__ import annotations

import pytest

from bridge.protocol.framing import frame
from bridge.scramble import sha2_token
from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    ACCOUNTS,
    Account,
    Bridge,
    MakeBridge,
    bridge_attr,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
)
from tests.integration.rawclient import Raw

pytestmark = pytest.mark.integration

PASSWORD_ACCOUNTS = [a for a in ACCOUNTS if a.user in ("app", "nat", "sha")]

# Where a client library itself cannot finish a login that mysqld would also refuse.
CLIENT_LIMITS = {
    # Connector/Python's sha256_password plugin insists on TLS before sending anything,
    # even on a Unix socket.
    ("connector", "sha256_password", "tcp"): None,
    ("connector", "sha256_password", "socket"): None,
}


@pytest.mark.parametrize("transport", ["tcp", "tls", "socket"])
@pytest.mark.parametrize("account", PASSWORD_ACCOUNTS, ids=lambda a: a.plugin)
@pytest.mark.parametrize("client", ["pymysql", "connector", "mysqlclient"])
def test_python_clients(bridge: Bridge, client: str, account: Account, transport: str) -> None:
    limit = CLIENT_LIMITS.get((client, account.plugin, transport), 0)
    if limit != 0:
        with pytest.raises(Exception) as err:
            connect(client, bridge, account.user, account.password, transport)
        if limit is not None:
            assert error_of(err.value)[0] == limit
        return
    if account.plugin == "caching_sha2_password" and transport == "tcp":
        # A full authentication over TLS first, so that this login takes the fast path.
        connect("pymysql", bridge, account.user, account.password, "tls").close()
    with closing(connect(client, bridge, account.user, account.password, transport)) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == f"{account.user}@%"
        ssl_cipher = scalar(conn, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                                  "WHERE VARIABLE_NAME = 'Ssl_cipher'")  # fmt: skip
        assert ssl_cipher, "the bridge's upstream leg uses TLS (mode preferred)"
        assert bridge_attr(conn, "bridge_transport") == transport
        assert bridge_attr(conn, "bridge_external_user") == account.user


@pytest.mark.parametrize("transport", ["tcp", "tls", "socket"])
@pytest.mark.parametrize("account", PASSWORD_ACCOUNTS, ids=lambda a: a.plugin)
def test_mariadb_cli(bridge: Bridge, account: Account, transport: str) -> None:
    done = mariadb_cli(bridge, account.user, account.password, transport=transport)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{account.user}@%"


def test_caching_sha2_cold_cache_over_plain_tcp_uses_rsa(make_bridge: MakeBridge) -> None:
    bridge = make_bridge()  # a new bridge: nothing cached
    for client in ("pymysql", "mysqlclient"):
        with closing(connect(client, bridge, "app", "app-pw", "tcp")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "app@%"
        bridge.stop()
        bridge = make_bridge()
    done = mariadb_cli(bridge, "app", "app-pw", transport="tcp")
    assert done.stdout.strip() == "app@%", done.stderr


def test_connector_python_cleartext_over_plain_tcp_is_refused(make_bridge: MakeBridge) -> None:
    # Connector/Python answers perform_full_authentication with the password in clear even
    # without TLS; like mysqld, the bridge accepts only RSA there and denies the login.
    bridge = make_bridge()
    with pytest.raises(Exception) as err:
        connect("connector", bridge, "app", "app-pw", "tcp")
    assert error_of(err.value)[0] == 1045
    assert "RSA" in bridge.log


def test_client_cannot_spoof_the_bridge_attributes(bridge: Bridge) -> None:
    attrs = {"bridge_external_user": "someone-else", "app_name": "kept"}
    with closing(connect("connector", bridge, "nat", "nat-pw", "tls", conn_attrs=attrs)) as conn:
        assert bridge_attr(conn, "bridge_external_user") == "nat"
        assert bridge_attr(conn, "app_name") == "kept"
        count = scalar(conn, "SELECT COUNT(*) FROM performance_schema.session_connect_attrs "
                             "WHERE PROCESSLIST_ID = CONNECTION_ID() AND ATTR_NAME LIKE 'bridge_%'")  # fmt: skip
        assert count == 5


def test_account_without_password(bridge: Bridge) -> None:
    assert mariadb_cli(bridge, "nopw", None).stdout.strip() == "nopw@%"
    with closing(connect("pymysql", bridge, "nopw", "", "tcp")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "nopw@%"


def test_localhost_row_matches_socket_and_loopback(bridge: Bridge) -> None:
    assert mariadb_cli(bridge, "local", "local-pw", transport="socket").stdout.strip() == "local@%"
    assert mariadb_cli(bridge, "local", "local-pw", transport="tcp").stdout.strip() == "local@%"


def test_cleartext_plugin_chosen_by_the_client(bridge: Bridge) -> None:
    args = ("--default-auth=mysql_clear_password",)  # MariaDB's client allows it by default
    for transport in ("tls", "socket"):
        done = mariadb_cli(bridge, "nat", "nat-pw", *args, transport=transport)
        assert done.stdout.strip() == "nat@%", done.stderr
    refused = mariadb_cli(bridge, "nat", "nat-pw", *args, transport="tcp")
    assert refused.returncode == 1 and "ERROR 3159" in refused.stderr


def test_caching_sha2_fast_auth_on_the_wire(bridge: Bridge) -> None:
    """After a full authentication fills the cache, a plain-TCP login is 01 03 then OK."""
    with closing(connect("pymysql", bridge, "app", "app-pw", "tls")):
        pass
    raw = Raw.connect(bridge.port)
    greeting = raw.greeting()
    assert greeting.auth_plugin == "caching_sha2_password"
    raw.hello("app", sha2_token(b"app-pw", greeting.scramble), "caching_sha2_password")
    assert raw.read() == (2, b"\x01\x03")  # AuthMoreData fast_auth_success
    seq, ok = raw.read()
    assert seq == 3 and ok[0] == 0x00
    raw.send(b"\x03SELECT CURRENT_USER()", 0)
    assert b"app@%" in b"".join(raw.read()[1] for _ in range(4))
    raw.close()


def test_full_auth_without_tls_or_rsa_is_refused(bridge: Bridge) -> None:
    """perform_full_authentication over plain TCP: a clear password is not accepted."""
    raw = Raw.connect(bridge.port)
    greeting = raw.greeting()
    raw.hello("sha", b"x" * 32, "caching_sha2_password")  # a sha256_password row: switch
    seq, switch = raw.read()
    assert switch[:1] == b"\xfe" and b"sha256_password" in switch
    raw.send(b"sha-pw\0", seq + 1)
    seq, err = raw.read()
    assert err[:3] == b"\xff\x15\x04"  # 1045
    raw.close()
    assert greeting.scramble != switch  # (the switch carries the nonce, not the name alone)


def test_unknown_database_is_the_upstream_error(bridge: Bridge) -> None:
    with pytest.raises(Exception) as err:
        connect("pymysql", bridge, "nat", "nat-pw", "tls", database="no_such_db")
    assert error_of(err.value)[0] == 1049
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tls", database="shop")) as conn:
        assert scalar(conn, "SELECT DATABASE()") == "shop"


def test_greeting_mirrors_the_upstream(bridge: Bridge, mariadb: MariaDB) -> None:
    raw = Raw.connect(bridge.port)
    greeting = raw.greeting()
    raw.close()
    assert "MariaDB" in greeting.server_version
    assert greeting.auth_plugin == "caching_sha2_password"
    assert len(greeting.scramble) == 20 and b"\0" not in greeting.scramble


def test_a_query_split_across_packets_passes(bridge: Bridge) -> None:
    raw = Raw.connect(bridge.port)
    greeting = raw.greeting()
    from bridge.scramble import native_token

    raw.hello("nat", native_token(b"nat-pw", greeting.scramble), "mysql_native_password")
    assert raw.read()[1][0] == 0
    data = frame(b"\x03SELECT 12345", 0)
    for byte in data:  # one byte per write
        raw.send_raw(bytes([byte]))
    assert b"12345" in b"".join(raw.read()[1] for _ in range(4))
    raw.close()
