"""auth_socket with real OS users: the test creates them and runs the mariadb client as each
one over the Unix socket; the bridge reads the peer's uid with SO_PEERCRED."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Imported here, not in the child run_as forks: that child may not read Python's own files.
import mysql.connector
import mysql.connector.plugins.caching_sha2_password
import mysql.connector.plugins.mysql_native_password
import MySQLdb
import pymysql
import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from tests.integration.harness import Bridge, connect, error_of, start_bridge
from tests.integration.osusers import os_users, run_as

pytestmark = pytest.mark.integration
USERS = {"mabt_sock1": [], "mabt_sock2": [], "mabt_sock3": ["mabt_sockdba"]}


@pytest.fixture(scope="module")
def sock_users() -> Iterator[None]:
    with os_users(USERS):
        yield


def _socket_bridge(
    directory: Path, mariadb: MariaDB, certs: CertSet, greeting: str
) -> Iterator[Bridge]:
    for user in ("mabt_sock1", "valerie", "developer"):
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'up-{user}'")
    accounts = [
        Account("mabt_sock1", "", "auth_socket", "localhost", "up-mabt_sock1", ""),
        Account("valerie", "", "auth_socket", "localhost", "up-valerie", "mabt_sock2"),
        Account("", "", "auth_socket", "localhost", auth_string="@mabt_sockdba=developer"),
    ]
    grants = [{"proxy": "''@'localhost'", "proxied": ["'developer'@'%'"]}]
    sockdir = Path(tempfile.mkdtemp(prefix="mabt-sock-"))
    os.chmod(sockdir, 0o755)  # noqa: S103 - other users must reach the socket, like mysqld.sock
    bridge = start_bridge(directory, mariadb, certs, accounts,
                          upstream_only={"developer": "up-developer"}, proxy_grants=grants,
                          listen={"unix": str(sockdir / "bridge.sock")},
                          server={"default_auth_plugin": greeting})  # fmt: skip
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def socket_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet, sock_users: None
) -> Iterator[Bridge]:
    """The greeting proposes caching_sha2_password (server.default_auth_plugin's default)."""
    yield from _socket_bridge(tmp_path_factory.mktemp("sock"), mariadb, certs,
                              "caching_sha2_password")  # fmt: skip


@pytest.fixture(scope="module")
def native_greeting_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet, sock_users: None
) -> Iterator[Bridge]:
    """The greeting proposes mysql_native_password, as MariaDB's does."""
    yield from _socket_bridge(tmp_path_factory.mktemp("sock-native"), mariadb, certs,
                              "mysql_native_password")  # fmt: skip


@pytest.fixture(params=["caching_sha2_password", "mysql_native_password"])
def greeting_bridge(request: pytest.FixtureRequest) -> Bridge:
    """Each greeting's bridge in turn (server.default_auth_plugin)."""
    name = "socket_bridge" if request.param == "caching_sha2_password" else "native_greeting_bridge"
    bridge: Bridge = request.getfixturevalue(name)
    return bridge


def as_user(
    bridge: Bridge, os_user: str | None, mysql_user: str, tcp: bool = False, *options: str
) -> subprocess.CompletedProcess[str]:
    where = (
        ["-h127.0.0.1", f"-P{bridge.port}", "--protocol=TCP", "--skip-ssl"]
        if tcp
        else [f"--socket={bridge.socket}"]
    )
    cmd = [
        "mariadb",
        "--no-defaults",
        *where,
        f"-u{mysql_user}",
        *options,
        "-N",
        "-B",
        "-e",
        "SELECT CURRENT_USER()",
    ]
    return subprocess.run(cmd, user=os_user, capture_output=True, text=True, timeout=30, cwd="/")


def test_os_user_logs_in_as_the_same_name(socket_bridge: Bridge) -> None:
    done = as_user(socket_bridge, "mabt_sock1", "mabt_sock1")
    assert done.stdout.strip() == "mabt_sock1@%", done.stderr


def test_os_user_listed_in_the_authentication_string(socket_bridge: Bridge) -> None:
    done = as_user(socket_bridge, "mabt_sock2", "valerie")
    assert done.stdout.strip() == "valerie@%", done.stderr


def test_os_group_maps_to_a_proxied_account(socket_bridge: Bridge) -> None:
    done = as_user(socket_bridge, "mabt_sock3", "whoever")
    assert done.stdout.strip() == "developer@%", done.stderr


@pytest.mark.parametrize(
    ("os_user", "mysql_user"),
    [
        ("mabt_sock2", "mabt_sock1"),
        ("mabt_sock1", "valerie"),
        (None, "mabt_sock1"),
        ("mabt_sock2", "zzz"),
    ],
)
def test_mismatch_is_1698(socket_bridge: Bridge, os_user: str | None, mysql_user: str) -> None:
    done = as_user(socket_bridge, os_user, mysql_user)
    assert f"ERROR 1698 (28000): Access denied for user '{mysql_user}'@'localhost'" in done.stderr


def test_refused_over_tcp_even_for_the_right_name(socket_bridge: Bridge) -> None:
    done = as_user(socket_bridge, "mabt_sock1", "mabt_sock1", tcp=True)
    assert "ERROR 1698 (28000): Access denied for user 'mabt_sock1'@'localhost'" in done.stderr


def test_python_client_over_the_socket_as_root_is_refused(socket_bridge: Bridge) -> None:
    errno, message = error_of(
        pytest.raises(
            Exception, connect, "pymysql", socket_bridge, "mabt_sock1", "", "socket"
        ).value
    )
    assert (errno, message) == (1698, "Access denied for user 'mabt_sock1'@'localhost'")


def test_external_user_is_the_os_user(socket_bridge: Bridge, mariadb: MariaDB) -> None:
    sql = ("SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs a JOIN "
           "information_schema.PROCESSLIST p ON p.ID = a.PROCESSLIST_ID WHERE p.USER = 'developer' "
           "AND a.ATTR_NAME = 'bridge_external_user' AND p.INFO IS NULL")  # fmt: skip
    cmd = ["mariadb", "--no-defaults", f"--socket={socket_bridge.socket}", "-uwhoever", "-N", "-B", "-e",
           "SELECT CURRENT_USER(); DO SLEEP(2)"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, user="mabt_sock3", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/"
    )
    import time

    time.sleep(1)
    seen = mariadb.sql(sql.replace("AND p.INFO IS NULL", ""))
    proc.wait(timeout=10)
    assert "mabt_sock3" in seen.split()


# --- whatever the client's plugin sends: the exchange ends where that plugin expects ------

PASSWORD = "sock-pw-never-checked"  # what a client types; the bridge ignores it
CLIENT_PLUGINS = [
    None,  # the greeting's plugin
    "caching_sha2_password",
    "mysql_native_password",
    "sha256_password",
    "client_ed25519",
]


@pytest.mark.parametrize("default_auth", CLIENT_PLUGINS)
@pytest.mark.parametrize(
    ("password", "tls"), [(None, True), (PASSWORD, True), (PASSWORD, False)],
    ids=["no-password", "password-tls", "password-plain"],
)  # fmt: skip
def test_every_client_plugin_logs_in_with_or_without_a_password(
    greeting_bridge: Bridge, default_auth: str | None, password: str | None, tls: bool
) -> None:
    """libmariadb's caching_sha2_password sends a scramble and waits for the fast-auth byte
    (an OK instead sends it to full authentication: ERROR 1156); a plugin the greeting did
    not propose sends nothing and waits for its nonce (an OK instead: ERROR 2012)."""
    options = [f"-p{password}"] if password else []
    options += [f"--default-auth={default_auth}"] if default_auth else []
    options += [] if tls else ["--skip-ssl"]
    done = as_user(greeting_bridge, "mabt_sock1", "mabt_sock1", False, *options)
    assert (done.stdout.strip(), done.stderr) == ("mabt_sock1@%", "")
    assert PASSWORD not in greeting_bridge.log


def test_a_refusal_still_ends_the_exchange_with_1698(socket_bridge: Bridge) -> None:
    """The wrong OS user, with a password and a plugin that is switched: still 1698."""
    done = as_user(socket_bridge, "mabt_sock2", "mabt_sock1", False, f"-p{PASSWORD}",
                   "--default-auth=mysql_native_password")  # fmt: skip
    assert "ERROR 1698 (28000): Access denied for user 'mabt_sock1'@'localhost'" in done.stderr


def _current_user(conn: Any) -> str:
    cur = conn.cursor()
    cur.execute("SELECT CURRENT_USER()")
    return str(cur.fetchone()[0])


def _pymysql(bridge: Bridge, plugin: str | None) -> str:
    assert plugin is None  # PyMySQL always answers with the greeting's plugin
    return _current_user(pymysql.connect(unix_socket=str(bridge.socket), user="mabt_sock1",
                                         password=PASSWORD, ssl_disabled=True))  # fmt: skip


def _connector(bridge: Bridge, plugin: str | None) -> str:
    kw = {"auth_plugin": plugin} if plugin else {}
    return _current_user(mysql.connector.connect(unix_socket=str(bridge.socket), user="mabt_sock1",
                                                 password=PASSWORD, use_pure=True,
                                                 ssl_disabled=True, **kw))  # fmt: skip


def _mysqlclient(bridge: Bridge, plugin: str | None) -> str:
    kw = {"auth_plugin": plugin} if plugin else {}
    return _current_user(MySQLdb.connect(unix_socket=str(bridge.socket), user="mabt_sock1",
                                         password=PASSWORD, **kw))  # fmt: skip


PY_CLIENTS = {"pymysql": _pymysql, "connector": _connector, "mysqlclient": _mysqlclient}


@pytest.mark.parametrize(
    ("client", "plugin"),
    [
        ("pymysql", None),
        ("connector", None),
        ("connector", "mysql_native_password"),
        ("connector", "caching_sha2_password"),  # (it refuses sha256_password without TLS)
        ("mysqlclient", None),
        ("mysqlclient", "mysql_native_password"),
        ("mysqlclient", "caching_sha2_password"),
        ("mysqlclient", "sha256_password"),
        ("mysqlclient", "client_ed25519"),
    ],
)
def test_python_clients_with_a_password_as_the_os_user(
    greeting_bridge: Bridge, client: str, plugin: str | None
) -> None:
    connect = PY_CLIENTS[client]
    assert run_as("mabt_sock1", lambda: connect(greeting_bridge, plugin)) == "mabt_sock1@%"
    assert PASSWORD not in greeting_bridge.log


def test_change_user_with_a_password_ends_the_exchange(greeting_bridge: Bridge) -> None:
    """COM_CHANGE_USER: libmariadb's caching_sha2_password sends its scramble in the request
    and waits; the bridge switches it to mysql_native_password and ends there."""

    def change_user() -> str:
        conn: Any = MySQLdb.connect(unix_socket=str(greeting_bridge.socket), user="mabt_sock1",
                               password=PASSWORD, auth_plugin="caching_sha2_password")  # fmt: skip
        conn.change_user("mabt_sock1", PASSWORD)
        return _current_user(conn)

    assert run_as("mabt_sock1", change_user) == "mabt_sock1@%"


@pytest.mark.parametrize("tcp", [True, False], ids=["tcp", "socket"])
def test_explain_says_what_the_mariadb_cli_gets(socket_bridge: Bridge, tcp: bool) -> None:
    """explain opens with the greeting's plugin, as the CLI does: over TCP no peer
    credentials (1698, whatever is typed); over the socket the row's OS user logs in."""
    done = as_user(socket_bridge, "mabt_sock1", "mabt_sock1", tcp, f"-p{PASSWORD}")
    transport, host = ("tcp", "127.0.0.1") if tcp else ("socket", "localhost")
    cmd = [sys.executable, "-m", "bridge", "explain", "-c", str(socket_bridge.config),
           "mabt_sock1", "--host", host, "--transport", transport]  # fmt: skip
    explained = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    result = explained.stdout.splitlines()[-1]
    if tcp:
        assert "ERROR 1698 (28000)" in done.stderr
        assert explained.returncode == 1, explained.stdout
        assert (
            result
            == "result: access denied (ERROR 1698): auth_socket works on the Unix socket only"
        )
    else:
        assert done.stdout.strip() == "mabt_sock1@%", done.stderr
        assert (explained.returncode, result) == (0, "result: logs in upstream as 'mabt_sock1'")
        assert "one of the OS users mabt_sock1: else ERROR 1698" in explained.stdout
