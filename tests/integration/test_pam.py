"""PAM logins end to end: pam_wrapper with pam_matrix (nothing in /etc), every client and
wire method, group mapping to proxied accounts, a two-prompt stack through `dialog`, PAM's
failure delay served without blocking, and the real pam_unix with a real system user."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.pam import PamSandbox
from tests.integration.harness import (
    Bridge,
    bridge_attr,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
    start_bridge,
)
from tests.integration.osusers import os_users

pytestmark = pytest.mark.integration

USERS = {"mabt_alice": ["mabt_dba", "mabt_users"], "mabt_bob": ["mabt_users"], "mabt_carol": []}
PAM_USERS = [("mabt_alice", "alice-pam", "mysql"), ("mabt_bob", "bob-pam", "mysql"),
             ("mabt_carol", "carol-pam", "mysql"), ("otpuser", "otp-pam", "mysql-otp"),
             ("slow", "slow-pam", "mysql-slow"), ("mapper", "map-pam", "mysql-map"),
             ("developer", "-", "mysql-map")]  # fmt: skip
OTP = "424242"


@pytest.fixture(scope="module")
def pam_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pam-module") / "pam_otp_test.so"
    source = Path(__file__).parent.parent / "pam" / "pam_otp_test.c"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(out), str(source), "-lpam"], check=True)
    return out


@pytest.fixture(scope="module")
def pam_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet, pam_module: Path
) -> Iterator[Bridge]:
    for user in ("developer", "reader", "otpuser"):
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'up-{user}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")
    base = tmp_path_factory.mktemp("pam")
    pam = PamSandbox.create(base / "pam", PAM_USERS)
    pam.add_service("mysql-otp", [f"auth required {pam_module} code={OTP}"])
    pam.add_service("mysql-slow", ["auth optional pam_faildelay.so delay=2000000"])
    # pam_wrapper's pam_set_items sets PAM_USER from the environment: a stand-in for
    # pam_user_map rewriting the user after authentication.
    pam.add_service(
        "mysql-map", [f"auth required {pam.matrix.replace('pam_matrix', 'pam_set_items')}"]
    )
    accounts = [
        Account("", "", "authentication_pam", auth_string="mysql, mabt_dba=developer, mabt_users=reader"),
        Account("otpuser", "", "authentication_pam", upstream_password="up-otpuser", auth_string="mysql-otp"),
        Account("slow", "", "authentication_pam", upstream_password="up-reader", auth_string="mysql-slow"),
        Account("mapper", "", "authentication_pam", auth_string="mysql-map"),
    ]  # fmt: skip
    grants = [{"proxy": "''@'%'", "proxied": ["'developer'@'%'", "'reader'@'%'"]},
              {"proxy": "'mapper'@'%'", "proxied": ["'developer'@'%'"]}]  # fmt: skip
    with os_users(USERS):
        bridge = start_bridge(base / "bridge", mariadb, certs, accounts, env={**pam.env(), "PAM_USER": "developer"},
                              upstream_only={"developer": "up-developer", "reader": "up-reader"},
                              backends={"pam": pam.config()}, proxy_grants=grants,
                              audit_log="audit.jsonl")  # fmt: skip
        _pin_dialog(bridge, "otpuser")
        yield bridge
        bridge.stop()


def _pin_dialog(bridge: Bridge, user: str) -> None:
    import yaml

    doc = yaml.safe_load((bridge.directory / "accounts.yaml").read_text())
    for row in doc["accounts"]:
        if row["user"] == user:
            row["wire_method"] = "dialog"  # a stack with two prompts needs the dialog plugin
    (bridge.directory / "accounts.yaml").write_text(yaml.safe_dump(doc))
    assert bridge.reload()


# Connector/Python over plain TCP sends the password in clear: refused, see test_logins.
COMBINATIONS = [(c, t) for c in ("pymysql", "connector", "mysqlclient") for t in ("tcp", "tls", "socket")
                if (c, t) != ("connector", "tcp")]  # fmt: skip


@pytest.mark.parametrize(("client", "transport"), COMBINATIONS)
def test_group_mapping_with_every_client(pam_bridge: Bridge, client: str, transport: str) -> None:
    with closing(connect(client, pam_bridge, "mabt_alice", "alice-pam", transport)) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"  # first matching group
        assert bridge_attr(conn, "bridge_external_user") == "mabt_alice"
        assert bridge_attr(conn, "bridge_proxy_account") == "''@'%'"
    with closing(connect(client, pam_bridge, "mabt_bob", "bob-pam", transport)) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"


@pytest.mark.parametrize(
    ("args", "transport"),
    [((), "tls"), ((), "socket"), ((), "tcp"),  # caching_sha2_password: TLS, socket, RSA
     (("--default-auth=mysql_clear_password",), "tls"),
     (("--default-auth=dialog",), "tls"),  # dialog with the password in the first packet
     (("--default-auth=mysql_native_password",), "socket")],  # switched to dialog
)  # fmt: skip
def test_mariadb_cli_every_wire_method(
    pam_bridge: Bridge, args: tuple[str, ...], transport: str
) -> None:
    done = mariadb_cli(pam_bridge, "mabt_alice", "alice-pam", *args, transport=transport)
    assert done.stdout.strip() == "developer@%", done.stderr


def test_user_rewritten_by_pam_becomes_the_proxied_account(pam_bridge: Bridge) -> None:
    import json

    with closing(connect("pymysql", pam_bridge, "mapper", "map-pam", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
        assert bridge_attr(conn, "bridge_external_user") == "developer"
    lines = pam_bridge.audit_text().splitlines()
    record = [json.loads(line) for line in lines if '"user":"mapper"' in line][-1]
    assert (record["identity"], record["proxied_account"], record["result"]) == (
        "developer",
        "'developer'@'%'",
        "ok",
    )


def test_denials(pam_bridge: Bridge) -> None:
    for user, password in (
        ("mabt_alice", "wrong"),
        ("nobody-at-all", "x"),
        ("mabt_carol", "carol-pam"),
    ):
        errno, message = error_of(
            pytest.raises(Exception, connect, "pymysql", pam_bridge, user, password).value
        )
        assert (errno, message) == (
            1045,
            f"Access denied for user '{user}'@'localhost' (using password: YES)",
        )
    assert (
        "no group in the mapping matched, and the anonymous account is not a session"
        in pam_bridge.log
    )
    assert "Authentication failure" in pam_bridge.log


def test_empty_password_never_reaches_pam(pam_bridge: Bridge) -> None:
    err = pytest.raises(Exception, connect, "pymysql", pam_bridge, "mabt_alice", "").value
    assert error_of(err)[0] == 1045
    assert "empty password: not given to PAM" in pam_bridge.log


def test_dialog_over_plain_tcp_is_refused(pam_bridge: Bridge) -> None:
    done = mariadb_cli(
        pam_bridge, "mabt_alice", "alice-pam", "--default-auth=dialog", transport="tcp"
    )
    assert "ERROR 3159" in done.stderr


@pytest.mark.parametrize("code", [OTP, "000000"])
def test_two_prompt_stack_with_the_mariadb_cli(pam_bridge: Bridge, code: str) -> None:
    cmd = ["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{pam_bridge.port}", f"--ssl-ca={pam_bridge.certs.ca}",
           "-uotpuser", "-potp-pam", "-N", "-B", "-e", "SELECT CURRENT_USER()"]  # fmt: skip
    done = subprocess.run(cmd, input=code + "\n", capture_output=True, text=True, timeout=30)
    assert "Verification code:" in done.stdout + done.stderr
    if code == OTP:
        assert done.stdout.strip().endswith("otpuser@%"), done.stderr
    else:
        assert "ERROR 1045" in done.stderr


def test_two_prompt_stack_with_mysqlclient(pam_bridge: Bridge) -> None:
    import sys

    script = (
        f"import MySQLdb; c = MySQLdb.connect(host='127.0.0.1', port={pam_bridge.port}, user='otpuser', "
        f"password='otp-pam', ssl={{'ca': '{pam_bridge.certs.ca}'}}); cur = c.cursor(); "
        "cur.execute('SELECT CURRENT_USER()'); print(cur.fetchone()[0])"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], input=OTP + "\n", capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip().endswith("otpuser@%"), done.stderr


def test_pam_failure_delay_does_not_block_other_logins(pam_bridge: Bridge) -> None:
    took: list[float] = []

    def slow_failure() -> None:
        started = time.monotonic()
        with pytest.raises(Exception):
            connect("pymysql", pam_bridge, "slow", "wrong", "tls")
        took.append(time.monotonic() - started)

    worker = threading.Thread(target=slow_failure)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    for _ in range(5):
        connect("mysqlclient", pam_bridge, "mabt_bob", "bob-pam", "tls").close()
    fast = time.monotonic() - started
    worker.join()
    # pam_faildelay asks for 2 s; Linux-PAM randomises it (1.38 s was seen once under load), and a
    # failure without the delay answers in milliseconds: 1 s proves the delay was served
    assert took and took[0] >= 1.0
    assert fast < 1.5  # while five other logins went through


# --- the real pam_unix -----------------------------------------------------------------------

SERVICE = "mabt-bridge-test"


@pytest.fixture(scope="module")
def unix_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
) -> Iterator[Bridge]:
    mariadb.sql("CREATE USER IF NOT EXISTS 'mabt_unix'@'%' IDENTIFIED BY 'up-unix'")
    pam_file = Path("/etc/pam.d") / SERVICE
    pam_file.write_text("auth required pam_unix.so nodelay\naccount required pam_unix.so\n")
    accounts = [
        Account(
            "mabt_unix", "", "authentication_pam", upstream_password="up-unix", auth_string=SERVICE
        )
    ]
    try:
        with os_users({"mabt_unix": []}, {"mabt_unix": "unix-secret-1"}):
            bridge = start_bridge(tmp_path_factory.mktemp("pam-unix"), mariadb, certs, accounts,
                                  backends={"pam": {"library": "libpam.so.0"}})  # fmt: skip
            yield bridge
            bridge.stop()
    finally:
        pam_file.unlink(missing_ok=True)


def test_real_pam_unix(unix_bridge: Bridge) -> None:
    assert mariadb_cli(unix_bridge, "mabt_unix", "unix-secret-1").stdout.strip() == "mabt_unix@%"
    with closing(connect("pymysql", unix_bridge, "mabt_unix", "unix-secret-1", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "mabt_unix@%"
    assert (
        error_of(
            pytest.raises(Exception, connect, "pymysql", unix_bridge, "mabt_unix", "nope").value
        )[0]
        == 1045
    )


def test_real_pam_unix_expired_account_is_denied(unix_bridge: Bridge) -> None:
    subprocess.run(["chage", "-E", "0", "mabt_unix"], check=True)
    try:
        errno, _ = error_of(
            pytest.raises(
                Exception, connect, "pymysql", unix_bridge, "mabt_unix", "unix-secret-1"
            ).value
        )
        assert errno == 1045
        assert (
            "PAM acct_mgmt for 'mabt_unix'" in unix_bridge.log
            and "expired" in unix_bridge.log.lower()
        )
    finally:
        subprocess.run(["chage", "-E", "-1", "mabt_unix"], check=True)


def test_pam_stack_names_the_real_service(unix_bridge: Bridge) -> None:
    assert os.path.exists(f"/etc/pam.d/{SERVICE}")


def test_explain_check_backend_reads_os_groups(pam_bridge: Bridge) -> None:
    import sys

    cmd = [sys.executable, "-m", "bridge", "explain", "-c", str(pam_bridge.config), "mabt_alice",
           "--host", "10.1.2.3", "--check-backend"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "backend pam reports the groups:" in done.stdout and "mabt_dba" in done.stdout, (
        done.stderr
    )
    assert "account: 'developer'@'%' (proxied)" in done.stdout and done.returncode == 0


def test_a_client_that_cannot_do_dialog_is_a_client_limit_not_an_outage(pam_bridge: Bridge) -> None:
    """Connector/Python has no dialog plugin: it hangs up on the switch. That is logged as
    a client limit; no backend outage is logged or counted."""
    import mysql.connector

    before = pam_bridge.log
    with pytest.raises(mysql.connector.Error) as caught:
        connect("connector", pam_bridge, "otpuser", "otp-pam", "tls")
    assert "dialog" in str(caught.value)
    time.sleep(0.5)  # the PAM thread finishes after the client is gone
    new = pam_bridge.log[len(before) :]
    assert "client hung up on the switch to dialog" in new and "client limit" in new
    assert "backend outage" not in new and "WARNING" not in new
    assert (
        "AUTHINFO_UNAVAIL" not in new
        and "Authentication information cannot be recovered" not in new
    )
    records = [
        json.loads(line) for line in (pam_bridge.directory / "audit.jsonl").read_text().splitlines()
    ]
    last = [r for r in records if r.get("user") == "otpuser"][-1]
    assert last["result"] == "error" and "hung up" in last["reason"], last
