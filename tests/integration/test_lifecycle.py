"""Running it as a service: reload, drain, limits, transport policy, an upstream that is
down, and the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest

from bridge.protocol.packets import parse_err
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, wait_until
from tests.integration.harness import (
    ACCOUNTS,
    Account,
    Bridge,
    MakeBridge,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
)
from tests.integration.rawclient import Raw

pytestmark = pytest.mark.integration


def test_sighup_reload_swaps_accounts_and_a_broken_file_keeps_the_old(
    make_bridge: MakeBridge,
) -> None:
    bridge = make_bridge()
    rows = [a.row() for a in ACCOUNTS if a.user != "nat"]
    rows.append(Account("nat", "new-pw", "mysql_native_password").row())
    bridge.write_accounts(rows)
    assert bridge.reload()
    assert mariadb_cli(bridge, "nat", "new-pw").stdout.strip() == "nat@%"
    assert mariadb_cli(bridge, "nat", "nat-pw").returncode == 1

    (bridge.directory / "accounts.yaml").write_text("accounts:\n  - {user: x, plugin: nope}\n")
    assert not bridge.reload()
    assert "plugin 'nope' is not loaded" in bridge.log
    assert mariadb_cli(bridge, "nat", "new-pw").stdout.strip() == "nat@%"
    assert bridge.proc.poll() is None


def test_sigterm_drains_open_sessions_then_exits(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(server={"shutdown_grace": 20})
    conn = connect("pymysql", bridge, "nat", "nat-pw", "tcp")
    bridge.signal(signal.SIGTERM)
    bridge.wait_log("draining 1 session")
    assert scalar(conn, "SELECT 'still served'") == "still served"
    with pytest.raises(Exception):  # no longer listening
        connect("pymysql", bridge, "nat", "nat-pw", "tcp")
    assert bridge.proc.poll() is None
    conn.close()
    bridge.proc.wait(timeout=10)
    assert bridge.proc.returncode == 0 and "stopped" in bridge.log


def test_sigterm_cuts_sessions_after_the_grace_period(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(server={"shutdown_grace": 1})
    conn = connect("pymysql", bridge, "nat", "nat-pw", "tcp")
    started = time.monotonic()
    bridge.signal(signal.SIGTERM)
    bridge.proc.wait(timeout=10)
    assert time.monotonic() - started < 5
    with pytest.raises(Exception):
        scalar(conn, "SELECT 1")


def test_max_connections(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(server={"max_connections": 2})
    first = connect("pymysql", bridge, "nat", "nat-pw", "tcp")
    second = connect("mysqlclient", bridge, "nat", "nat-pw", "tcp")
    raw = Raw.connect(bridge.port)
    seq, payload = raw.read()
    # before its greeting, as MariaDB 10.11 refuses a connection over max_connections: no
    # SQLSTATE (the client has not said which protocol it speaks)
    assert (seq, payload) == (0, b"\xff\x10\x04Too many connections")
    assert parse_err(payload).errno == 1040
    assert raw.closed()
    assert scalar(first, "SELECT 1") == 1  # the others keep working
    first.close()
    third: list[Any] = []

    def slot_freed() -> bool:  # once the bridge has ended the first session (1040 before)
        try:
            third.append(connect("pymysql", bridge, "nat", "nat-pw", "tcp"))
        except pymysql.err.MySQLError as exc:
            assert error_of(exc)[0] == 1040, exc
            return False
        return True

    wait_until(slot_freed, 10, "the first session's slot")
    with closing(third[0]):
        assert scalar(third[0], "SELECT CURRENT_USER()") == "nat@%"
    second.close()


def test_require_secure_transport(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(tls={"require_secure_transport": True})
    assert error_of(
        pytest.raises(Exception, connect, "pymysql", bridge, "nat", "nat-pw", "tcp").value
    ) == (
        3159,
        "Connections using insecure transport are prohibited while --require_secure_transport=ON.",
    )
    for transport in ("tls", "socket"):
        with closing(connect("pymysql", bridge, "nat", "nat-pw", transport)) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"


def test_upstream_down_is_not_access_denied(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(upstream={"address": f"127.0.0.1:{free_port()}", "connect_timeout": 2})
    errno, message = error_of(
        pytest.raises(Exception, connect, "pymysql", bridge, "nat", "nat-pw", "tls").value
    )
    assert errno == 3169 and "Upstream server is unavailable" in message
    assert "upstream login failed" in bridge.log and "cannot connect" in bridge.log
    # A wrong password is still a wrong password: nothing upstream is touched before that.
    assert (
        error_of(pytest.raises(Exception, connect, "pymysql", bridge, "nat", "bad", "tls").value)[0]
        == 1045
    )


def test_upstream_refusing_the_bridge_credentials(
    make_bridge: MakeBridge, mariadb: MariaDB
) -> None:
    accounts = [
        Account("nat", "nat-pw", "mysql_native_password", upstream_password="not-what-upstream-has")
    ]
    bridge = make_bridge(accounts=accounts)
    errno, _ = error_of(
        pytest.raises(Exception, connect, "mysqlclient", bridge, "nat", "nat-pw", "tls").value
    )
    assert errno == 3169
    assert "upstream refused the login: 1045" in bridge.log


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_check_command(make_bridge: MakeBridge) -> None:
    bridge = make_bridge()
    config = str(bridge.directory / "bridge.yaml")
    done = run_cli("check", "-c", config)
    assert done.returncode == 0 and "OK" in done.stdout
    (bridge.directory / "accounts.yaml").write_text("accounts:\n  - {user: a, plugin: mysql_native_password, "
                                                    "authentication_string: '*00'}\n")  # fmt: skip
    done = run_cli("check", "-c", config)
    assert done.returncode == 1
    assert (
        "accounts.yaml:2: accounts[0]: a mysql_native_password hash is '*' and 40 hex digits"
        in done.stderr
    )
    bridge.write_accounts([Account("orphan", "pw", "mysql_native_password").row()])
    done = run_cli("check", "-c", config)
    assert done.returncode == 1 and "'orphan'@'%' can log in as itself" in done.stderr
    assert "has no entry 'orphan'" in done.stderr


def test_hash_password_command_makes_hashes_the_bridge_accepts(make_bridge: MakeBridge) -> None:
    sha2 = run_cli("hash-password", stdin="hunter2\n").stdout.strip()
    native = run_cli(
        "hash-password", "--plugin", "mysql_native_password", stdin="hunter2\n"
    ).stdout.strip()
    assert sha2.startswith("$A$005$") or sha2.startswith("0x24412430303524")
    assert native == "*58815970BE77B3720276F63DB198B1FA42E5CC02"
    bridge = make_bridge(
        accounts=[Account("nat", "x", "mysql_native_password", upstream_password="up-nat")]
    )
    bridge.write_accounts(
        [
            {
                "user": "nat",
                "host": "%",
                "plugin": "caching_sha2_password",
                "authentication_string": sha2,
            }
        ]
    )
    assert bridge.reload()
    assert mariadb_cli(bridge, "nat", "hunter2").stdout.strip() == "nat@%"


def test_serve_refuses_a_broken_config(tmp_path: Path) -> None:
    (tmp_path / "bridge.yaml").write_text("upstream: {}\n")
    done = run_cli("serve", "-c", str(tmp_path / "bridge.yaml"))
    assert done.returncode == 1 and "upstream.credentials: missing (required)" in done.stderr


SSL_CIPHER = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'"


@pytest.mark.parametrize(
    ("mode", "encrypted"),
    [("disabled", False), ("required", True), ("verify_ca", True), ("verify_identity", True)],
)
def test_upstream_tls_modes(
    make_bridge: MakeBridge, certs: CertSet, mode: str, encrypted: bool
) -> None:
    tls = {"mode": mode, **({"ca": str(certs.ca)} if mode.startswith("verify") else {})}
    bridge = make_bridge(upstream={"tls": tls})
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
        assert bool(scalar(conn, SSL_CIPHER)) is encrypted


def test_upstream_certificate_from_another_ca_is_refused(
    make_bridge: MakeBridge, other_certs: CertSet
) -> None:
    bridge = make_bridge(upstream={"tls": {"mode": "verify_ca", "ca": str(other_certs.ca)}})
    assert (
        error_of(
            pytest.raises(Exception, connect, "pymysql", bridge, "nat", "nat-pw", "tls").value
        )[0]
        == 3169
    )
    assert "CERTIFICATE_VERIFY_FAILED" in bridge.log


def test_client_charset_and_database_reach_the_upstream(bridge: Bridge) -> None:
    with closing(
        connect("pymysql", bridge, "nat", "nat-pw", "tls", database="shop", charset="latin1")
    ) as conn:
        assert scalar(conn, "SELECT @@character_set_client") == "latin1"
        assert scalar(conn, "SELECT DATABASE()") == "shop"
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tls", charset="utf8mb4")) as conn:
        assert scalar(conn, "SELECT @@character_set_client") == "utf8mb4"


def test_no_secret_in_the_log(make_bridge: MakeBridge) -> None:
    bridge = make_bridge()  # log level debug
    for client in ("pymysql", "mysqlclient", "connector"):
        connect(client, bridge, "app", "app-pw", "tls").close()
        with pytest.raises(Exception):
            connect(client, bridge, "app", "wrong-secret-xyz", "tls")
    connect("mysqlclient", bridge, "sha", "sha-pw", "tcp").close()  # RSA path
    log = bridge.log
    for secret in ("app-pw", "wrong-secret-xyz", "sha-pw", "up-app", "up-sha"):
        assert secret not in log
    import yaml

    rows = yaml.safe_load((bridge.directory / "accounts.yaml").read_text())["accounts"]
    hashes = [r["authentication_string"] for r in rows if r["authentication_string"]]
    assert len(hashes) == 5
    for text in hashes:  # nor any stored hash, in hex or as it decodes
        assert text not in log and text.removeprefix("0x")[-40:].lower() not in log.lower()


def test_hash_password_refuses_an_empty_password(make_bridge: MakeBridge) -> None:
    """The quickstart's scripted form with the variable unset (or Enter twice at the
    prompts): hash-password printed an empty line and exit 0, the row got
    authentication_string '', and anyone logged in as the account with no password at all
    (the mariadb CLI, below, did). Now it refuses, and the script stops before the row."""
    bridge = make_bridge(
        accounts=[Account("nat", "x", "mysql_native_password", upstream_password="up-nat")]
    )
    accounts = bridge.directory / "accounts.yaml"
    script = (
        "set -eu\n"
        f'HASH=$(printf "%s" "${{PW:-}}" | {sys.executable} -m bridge hash-password)\n'
        f"cat > {accounts} <<EOF\n"
        "accounts:\n"
        '  - {user: nat, host: "%", plugin: caching_sha2_password, authentication_string: "$HASH"}\n'
        "EOF\n"
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "PW"})  # fmt: skip
    assert done.returncode == 1 and "the password is empty: nothing hashed" in done.stderr
    assert "caching_sha2_password" not in accounts.read_text()  # the row was never written
    assert bridge.reload()
    refused = mariadb_cli(bridge, "nat", None)
    assert refused.returncode == 1 and "ERROR 1045" in refused.stderr, refused.stdout
    for piped in ("", "\n", "\r\n"):
        done = run_cli("hash-password", stdin=piped)
        assert (done.returncode, done.stdout) == (1, ""), done.stdout
