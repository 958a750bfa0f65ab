"""MariaDB's ed25519 both ways, with real libmariadb clients and a real MariaDB: clients log
in to ed25519 rows through the bridge (client_ed25519), and the bridge logs in upstream as
accounts that MariaDB itself authenticates with ed25519."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import ed25519
from bridge.protocol.packets import parse_auth_switch_request, parse_err
from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    Bridge,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
    start_bridge,
)
from tests.integration.rawclient import Raw

pytestmark = pytest.mark.integration

ED_ACCOUNTS = [
    Account("ed", "ed-pw", "ed25519", upstream_password="up-ed"),  # ed25519 on both legs
    Account("edn", "edn-pw", "ed25519", upstream_password="up-edn"),  # native upstream
    Account("toed", "toed-pw", "caching_sha2_password", upstream_password="up-toed"),
    Account("edempty", "", "ed25519", upstream_password="up-edempty"),  # PASSWORD('') = ''
    Account("nat2", "nat2-pw", "mysql_native_password", upstream_password="up-nat2"),
]
UPSTREAM_ED25519 = ("ed", "toed", "edempty")  # MariaDB checks the bridge with ed25519


def install_ed25519(db: MariaDB) -> None:
    if (
        db.sql("SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'")
        == "0"
    ):
        db.sql("INSTALL SONAME 'auth_ed25519'")


def create_upstream(db: MariaDB, accounts: list[Account]) -> None:
    install_ed25519(db)
    for a in accounts:
        how = "VIA ed25519 USING PASSWORD(%s)" if a.user in UPSTREAM_ED25519 else "BY %s"
        identified = how % f"'{a.upstream_password}'"
        db.sql(f"CREATE OR REPLACE USER '{a.user}'@'%' IDENTIFIED {identified}")
        db.sql(f"GRANT SELECT ON *.* TO '{a.user}'@'%'")


@pytest.fixture(scope="module")
def ed_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
) -> Iterator[Bridge]:
    create_upstream(mariadb, ED_ACCOUNTS)
    running = start_bridge(tmp_path_factory.mktemp("ed-bridge"), mariadb, certs, ED_ACCOUNTS)
    yield running
    running.stop()


def _mariadb_connector(bridge: Bridge, user: str, password: str, transport: str) -> Any:
    """MariaDB Connector/Python (libmariadb underneath, like the mariadb CLI)."""
    import mariadb

    kw: dict[str, object] = {"user": user, "password": password}
    if transport == "socket":
        kw["unix_socket"] = str(bridge.socket)
    else:
        kw.update(host="127.0.0.1", port=bridge.port)
    if transport == "tls":
        kw.update(ssl_ca=str(bridge.certs.ca), ssl_verify_cert=True)
    return mariadb.connect(**kw)


TRANSPORTS = ["tcp", "tls", "socket"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("user", ["ed", "edn"])
def test_mariadb_cli_logs_in_with_client_ed25519(
    ed_bridge: Bridge, user: str, transport: str
) -> None:
    done = mariadb_cli(ed_bridge, user, f"{user}-pw", transport=transport)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{user}@%"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("client", ["mysqlclient", "mariadb-connector"])
def test_libmariadb_python_clients(ed_bridge: Bridge, client: str, transport: str) -> None:
    if client == "mysqlclient":
        conn = connect("mysqlclient", ed_bridge, "ed", "ed-pw", transport)
    else:
        conn = _mariadb_connector(ed_bridge, "ed", "ed-pw", transport)
    with closing(conn):
        assert scalar(conn, "SELECT CURRENT_USER()") == "ed@%"


def test_wrong_password_and_unknown_user_look_the_same(ed_bridge: Bridge) -> None:
    wrong = mariadb_cli(ed_bridge, "ed", "not-it", transport="tls")
    unknown = mariadb_cli(ed_bridge, "no-such-ed", "ed-pw", transport="tls")
    empty = mariadb_cli(ed_bridge, "ed", None, transport="tls")
    for done, user in ((wrong, "ed"), (unknown, "no-such-ed"), (empty, "ed")):
        assert done.returncode == 1
        # The client signs even without a password, so mysqld says YES here too.
        assert (
            f"ERROR 1045 (28000): Access denied for user '{user}'@'localhost' (using password: YES)"
            in done.stderr
        )
    log = ed_bridge.log
    # The decoy's method is drawn from the store rows in use (ed25519 or caching_sha2 here).
    assert "user='no-such-ed' row=decoy method=" in log and "reason=no account matches" in log
    assert "user='ed' row='ed'@'%' method=client_ed25519 reason=password does not match" in log


def test_empty_ed25519_string_lets_nobody_in(ed_bridge: Bridge) -> None:
    """MariaDB 10.11 stores PASSWORD('') as '' and then refuses every login: so does the
    bridge (measured: mariadb -u<such account> --skip-password gets 1045 from MariaDB)."""
    for password in (None, "x"):
        done = mariadb_cli(ed_bridge, "edempty", password, transport="tls")
        assert done.returncode == 1 and "ERROR 1045" in done.stderr, done.stderr


def test_change_user_to_an_ed25519_row(ed_bridge: Bridge) -> None:
    """COM_CHANGE_USER gets a fresh 32-byte nonce to sign, and the upstream another one."""
    conn = _mariadb_connector(ed_bridge, "edn", "edn-pw", "tls")
    with closing(conn):
        conn.change_user("ed", "ed-pw", None)
        assert scalar(conn, "SELECT CURRENT_USER()") == "ed@%"
        with pytest.raises(Exception) as err:
            conn.change_user("edn", "wrong", None)
        assert error_of(err.value)[0] == 1045
        # libmariadb answers a native change-user from the session's scramble, which an
        # ed25519 switch does not replace: the bridge must keep it too.
        conn.change_user("nat2", "nat2-pw", None)
        assert scalar(conn, "SELECT CURRENT_USER()") == "nat2@%"


def test_pymysql_with_caching_sha2_reaches_an_ed25519_upstream_account(ed_bridge: Bridge) -> None:
    with closing(connect("pymysql", ed_bridge, "toed", "toed-pw", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "toed@%"
        plugin = scalar(conn, "SELECT JSON_VALUE(priv, '$.plugin') FROM mysql.global_priv "
                              "WHERE User = 'toed'")  # fmt: skip
        assert plugin == "ed25519"  # MariaDB itself checked the bridge's signature


def test_ed25519_decoys_switch_like_real_rows(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """With only ed25519 rows, an unknown user is switched to client_ed25519 with a 32-byte
    nonce exactly like a real one, and denied only after it has answered."""
    accounts = [ED_ACCOUNTS[0]]
    create_upstream(mariadb, accounts)
    running = start_bridge(tmp_path / "b", mariadb, certs, accounts)
    try:
        for user in ("ed", "nobody"):
            raw = Raw.connect(running.port)
            raw.greeting()
            raw.hello(user, b"", "caching_sha2_password")
            seq, payload = raw.read()
            switch = parse_auth_switch_request(payload)
            assert (switch.plugin, len(switch.data)) == ("client_ed25519", 32)
            raw.send(ed25519.sign(b"wrong", switch.data), seq + 1)
            assert parse_err(raw.read()[1]).errno == 1045
            raw.sock.close()
    finally:
        running.stop()


def test_a_client_that_opens_with_client_ed25519_is_still_sent_the_nonce(ed_bridge: Bridge) -> None:
    raw = Raw.connect(ed_bridge.port)
    raw.greeting()
    raw.hello("edn", bytes(64), "client_ed25519")  # signed before it had anything to sign
    seq, payload = raw.read()
    switch = parse_auth_switch_request(payload)
    assert (switch.plugin, len(switch.data)) == ("client_ed25519", 32)
    raw.send(ed25519.sign(b"edn-pw", switch.data), seq + 1)
    assert raw.read()[1][:1] == b"\x00"  # OK
    raw.sock.close()


def test_hash_password_output_is_accepted_by_mariadb(mariadb: MariaDB) -> None:
    """The stored value the bridge prints is the one MariaDB itself stores and checks."""
    install_ed25519(mariadb)
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "hash-password", "--plugin", "ed25519"],
        input=b"p\xc3\xa4ss word\n", capture_output=True, check=True,
    )  # fmt: skip
    value = done.stdout.decode().strip()
    mariadb.sql(f"CREATE OR REPLACE USER 'edhash'@'%' IDENTIFIED VIA ed25519 USING '{value}'")
    login = subprocess.run(
        ["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{mariadb.port}", "-uedhash",
         "-ppäss word", "-NBe", "SELECT CURRENT_USER()"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert login.stdout.strip() == "edhash@%", login.stderr
