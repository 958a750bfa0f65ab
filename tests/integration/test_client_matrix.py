"""The client matrix of docs/clients.md, measured: eighteen real client libraries log in
through one bridge with every wire method, and each cell must come out as the table says
(a login that the table says works must work, one that it says fails must fail cleanly,
and none may hang).

Each client runs as its own process (tests/integration/clients/, tests/node/login.js), over TLS with the test
CA, except sysbench (the Unix socket: its TLS options take no CA file).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.pam import PamSandbox
from tests.integration.harness import Bridge, mariadb_cli, start_bridge

pytestmark = pytest.mark.integration

CLIENTS_DIR = Path(__file__).parent / "clients"
NODE_DIR = Path(__file__).parent.parent / "node"  # the Node libraries live beside login.js
CONNECTOR_J = "/usr/share/java/mariadb-java-client.jar"
TIMEOUT = 60  # a client that takes longer has hung

# One account per wire method; each logs in upstream as itself with a native password.
METHODS = {
    "mysql_native_password": Account("mx_native", "native-pw", "mysql_native_password"),
    "caching_sha2_password": Account("mx_sha2", "sha2-pw", "caching_sha2_password"),
    "sha256_password": Account("mx_sha256", "sha256-pw", "sha256_password"),
    "mysql_clear_password": Account("mx_clear", "clear-pw", "caching_sha2_password",
                                    wire_method="mysql_clear_password"),
    "dialog": Account("mx_pam", "pam-pw", "authentication_pam", auth_string="mysql",
                      wire_method="dialog"),
    "client_ed25519": Account("mx_ed", "ed-pw", "ed25519"),
}  # fmt: skip
ALL = frozenset(METHODS)


@dataclass(frozen=True)
class Client:
    command: tuple[str, ...]
    works: frozenset[str]  # the wire methods it logs in with (measured)
    socket: bool = False  # log in over the Unix socket instead of TLS


def _py(driver: str) -> tuple[str, ...]:
    return (sys.executable, str(CLIENTS_DIR / "login.py"), driver)


def _node(driver: str) -> tuple[str, ...]:
    return ("node", str(NODE_DIR / "login.js"), driver)


NO_DIALOG = ALL - {"dialog"}
NO_ED25519 = ALL - {"client_ed25519"}

# What each client logs in with, as measured through the bridge (see docs/clients.md).
CLIENTS = {
    "mariadb CLI": Client(("mariadb",), ALL),
    "mysqlclient": Client(_py("mysqlclient"), ALL),
    "MariaDB Connector/Python": Client(_py("mariadb"), ALL),
    "PyMySQL": Client(_py("pymysql"), ALL),  # client_ed25519 with PyNaCl installed
    "SQLAlchemy (PyMySQL)": Client(_py("sqlalchemy"), ALL),
    "Connector/Python (pure)": Client(_py("connector"), NO_DIALOG - {"client_ed25519"}),
    "aiomysql": Client(_py("aiomysql"), NO_DIALOG - {"client_ed25519"}),
    "asyncmy": Client(_py("asyncmy"), ALL),
    "sysbench": Client(("sysbench",), ALL, socket=True),
    "Node mysql2": Client(_node("mysql2"), NO_DIALOG - {"client_ed25519"}),
    "Node mysql2 (authPlugins dialog)": Client(_node("mysql2-dialog"), NO_ED25519),
    "Node mariadb": Client(_node("mariadb"), ALL),
    "Node mysql": Client(_node("mysql"), frozenset({"mysql_native_password"})),
    "MariaDB Connector/J": Client(("java", "-cp", CONNECTOR_J, str(CLIENTS_DIR / "Login.java")), ALL),
    "PHP mysqli": Client(("php", str(CLIENTS_DIR / "login.php"), "mysqli"), NO_DIALOG - {"client_ed25519"}),
    "PHP PDO_mysql": Client(("php", str(CLIENTS_DIR / "login.php"), "pdo"), NO_DIALOG - {"client_ed25519"}),
    "Perl DBD::MariaDB": Client(("perl", str(CLIENTS_DIR / "login.pl"), "MariaDB"), ALL),
    "Perl DBD::mysql": Client(("perl", str(CLIENTS_DIR / "login.pl"), "mysql"), ALL),
}  # fmt: skip


@pytest.fixture(scope="module")
def matrix_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
) -> Iterator[Bridge]:
    accounts = list(METHODS.values())
    for a in accounts:
        mariadb.sql(f"CREATE OR REPLACE USER '{a.user}'@'%' IDENTIFIED BY 'up-{a.user}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{a.user}'@'%'")
    upstream = {a.user: f"up-{a.user}" for a in accounts}
    base = tmp_path_factory.mktemp("matrix")
    pam = PamSandbox.create(base / "pam", [("mx_pam", "pam-pw", "mysql")])
    bridge = start_bridge(base / "bridge", mariadb, certs, accounts, env=pam.env(),
                          upstream_only=upstream, backends={"pam": pam.config()})  # fmt: skip
    yield bridge
    bridge.stop()


def login(bridge: Bridge, client: Client, account: Account) -> subprocess.CompletedProcess[str]:
    """Run the client once; its stdout holds CURRENT_USER() when it logged in."""
    if client.command == ("mariadb",):
        return mariadb_cli(bridge, account.user, account.password)
    if client.command == ("sysbench",):
        command = ["sysbench", "--db-driver=mysql", f"--mysql-socket={bridge.socket}",
                   f"--mysql-user={account.user}", f"--mysql-password={account.password}",
                   "--mysql-db=information_schema", "--threads=1", "--events=1",
                   str(CLIENTS_DIR / "login.lua"), "run"]  # fmt: skip
    else:
        command = list(client.command)
    env = {**os.environ, "MATRIX_HOST": "127.0.0.1", "MATRIX_PORT": str(bridge.port),
           "MATRIX_CA": str(bridge.certs.ca), "MATRIX_USER": account.user,
           "MATRIX_PASSWORD": account.password}  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def logged_in(done: subprocess.CompletedProcess[str], user: str) -> bool:
    lines = [line.removeprefix("CURRENT_USER=") for line in done.stdout.split()]
    return done.returncode == 0 and f"{user}@%" in lines


def _report(name: str, method: str, ok: bool, done: subprocess.CompletedProcess[str]) -> None:
    """MATRIX_REPORT=<file>: append each cell's outcome (for docs/clients.md)."""
    path = os.environ.get("MATRIX_REPORT")
    if path:
        why = "" if ok else " ".join((done.stderr or done.stdout).split())[-300:]
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{name}\t{method}\t{'yes' if ok else 'no'}\t{why}\n")


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("name", list(CLIENTS))
def test_client_matrix(matrix_bridge: Bridge, name: str, method: str) -> None:
    client, account = CLIENTS[name], METHODS[method]
    done = login(matrix_bridge, client, account)  # raises TimeoutExpired on a hang
    ok = logged_in(done, account.user)
    expected = method in client.works
    _report(name, method, ok, done)
    assert ok == expected, (
        f"{name} with {method}: expected {'a login' if expected else 'a refusal'}, got "
        f"rc={done.returncode} stdout={done.stdout[-300:]!r} stderr={done.stderr[-600:]!r}"
    )
