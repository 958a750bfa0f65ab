"""auth_socket with real OS users: the test creates them and runs the mariadb client as each
one over the Unix socket; the bridge reads the peer's uid with SO_PEERCRED."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from tests.integration.harness import Bridge, connect, error_of, start_bridge
from tests.integration.osusers import os_users

pytestmark = pytest.mark.integration
USERS = {"mabt_sock1": [], "mabt_sock2": [], "mabt_sock3": ["mabt_sockdba"]}


@pytest.fixture(scope="module")
def socket_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
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
    with os_users(USERS):
        bridge = start_bridge(tmp_path_factory.mktemp("sock"), mariadb, certs, accounts,
                              upstream_only={"developer": "up-developer"}, proxy_grants=grants,
                              listen={"unix": str(sockdir / "bridge.sock")})  # fmt: skip
        yield bridge
        bridge.stop()


def as_user(
    bridge: Bridge, os_user: str | None, mysql_user: str, tcp: bool = False
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
