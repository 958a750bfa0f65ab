"""LDAP logins end to end: real clients through the bridge, a real slapd (StartTLS and
ldaps with a test CA), group mapping to proxied accounts, and failover when a directory
server dies mid-run."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.probes import REUSE as PROBE_REUSE
from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.ldap import PEOPLE, Slapd
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, wait_until
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
from tests.integration.rawclient import unknown_to_wrong
from tests.integration.test_metrics import scrape
from tests.ldapfix import ldap_settings, start_slapd

pytestmark = pytest.mark.integration
MAPPING = "#dbadmins=developer,readers=reader"
GRANTS = [{"proxy": "''@'%'", "proxied": ["'developer'@'%'", "'reader'@'%'"]}]
UPSTREAM = {"developer": "up-developer", "reader": "up-reader"}


def ldap_bridge(directory: Path, mariadb: MariaDB, certs: CertSet, *servers: str) -> Bridge:
    for user, password in UPSTREAM.items():
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")
    directory.mkdir(parents=True, exist_ok=True)
    accounts = [Account("", "", "authentication_ldap_simple", auth_string=MAPPING)]
    return start_bridge(directory, mariadb, certs, accounts, upstream_only=UPSTREAM, proxy_grants=GRANTS,
                        backends={"ldap": ldap_settings(directory, certs, *servers)})  # fmt: skip


@pytest.fixture(scope="module", params=["starttls", "ldaps"])
def bridge_ldap(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mariadb: MariaDB,
    certs: CertSet,
    slapd: Slapd,
) -> Iterator[Bridge]:
    url = slapd.url if request.param == "starttls" else slapd.tls_url
    bridge = ldap_bridge(tmp_path_factory.mktemp("ldap-bridge"), mariadb, certs, url)
    yield bridge
    bridge.stop()


@pytest.mark.parametrize(("client", "transport"), [("pymysql", "tls"), ("pymysql", "tcp"), ("connector", "tls"),
                                                   ("mysqlclient", "tls"), ("mysqlclient", "socket")])  # fmt: skip
def test_groups_map_to_proxied_accounts(bridge_ldap: Bridge, client: str, transport: str) -> None:
    with closing(connect(client, bridge_ldap, "alice", "alice-ldap", transport)) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"  # posixGroup dbadmins
        assert bridge_attr(conn, "bridge_external_user") == "alice"
    with closing(connect(client, bridge_ldap, "bob", "bob-ldap", transport)) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"  # groupOfNames readers


def test_the_pam_syntax_on_an_ldap_row_is_an_error_that_says_where(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, slapd: Slapd
) -> None:
    """MySQL's PAM syntax ('mysql, dba=developer, users=data_entry') written on an LDAP
    row: it was taken as the DN to bind as, `check` said OK and every login of the row was
    1045. Now check, serve and a reload refuse it with the file and line, and say the
    syntax; the running bridge keeps its mapping (the mariadb CLI still lands on it)."""
    bridge = ldap_bridge(tmp_path, mariadb, certs, slapd.url)
    accounts = tmp_path / "accounts.yaml"
    good = accounts.read_text()
    accounts.write_text(good.replace(MAPPING, "mysql, dbadmins=developer, readers=reader"))
    try:
        done = subprocess.run([sys.executable, "-m", "bridge", "check", "--skip-ports", "-c",
                               str(bridge.config)], capture_output=True, text=True, timeout=60)  # fmt: skip
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert done.returncode == 1 and len(errors) == 1, done.stderr
        assert errors[0].startswith(f"error: {accounts}:2: accounts[0]") and (
            "'mysql' is not attribute=value" in errors[0]
        ), errors[0]
        assert "'#dba=developer,users=data_entry'" in errors[0]
        assert not bridge.reload()
        assert mariadb_cli(bridge, "alice", "alice-ldap").stdout.strip() == "developer@%"
    finally:
        accounts.write_text(good)
        bridge.stop()


def test_mariadb_cli_default_plugin_and_cleartext(bridge_ldap: Bridge) -> None:
    assert mariadb_cli(bridge_ldap, "alice", "alice-ldap").stdout.strip() == "developer@%"
    done = mariadb_cli(bridge_ldap, "bob", "bob-ldap", "--default-auth=mysql_clear_password")
    assert done.stdout.strip() == "reader@%", done.stderr


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("nosuch", "x"), ("carol", "carol-ldap"),
                                                ("alice", ""), ("*", "alice-ldap"), ("*)(uid=*", "alice-ldap")])  # fmt: skip
def test_denials(bridge_ldap: Bridge, user: str, password: str) -> None:
    errno, _ = error_of(
        pytest.raises(Exception, connect, "pymysql", bridge_ldap, user, password).value
    )
    assert errno == 1045


def test_a_name_the_directory_lacks_costs_as_much_as_a_wrong_password(bridge_ldap: Bridge) -> None:
    """The search finds no entry: the bridge still makes a bind on a fresh connection, as
    for a wrong password, so the time to the denial does not tell the directory's names
    (without it, 2 ms against 48 ms with slapd over TLS)."""

    ratio = unknown_to_wrong(str(bridge_ldap.socket), "alice", "nobody", 15)
    assert 0.5 < ratio < 2.0, ratio


def test_empty_password_is_refused_before_a_bind(bridge_ldap: Bridge) -> None:
    pytest.raises(Exception, connect, "mysqlclient", bridge_ldap, "alice", "")
    assert "empty password: no LDAP bind" in bridge_ldap.log


def test_failover_when_the_first_server_dies(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    first, second = start_slapd(tmp_path / "first", certs), start_slapd(tmp_path / "second", certs)
    bridge = ldap_bridge(tmp_path / "bridge", mariadb, certs, first.tls_url, second.tls_url)
    results: list[tuple[float, str | None]] = []
    stop = threading.Event()

    def logins() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                with closing(connect("pymysql", bridge, "bob", "bob-ldap", "tls")) as conn:
                    results.append(
                        (time.monotonic() - started, scalar(conn, "SELECT CURRENT_USER()"))
                    )
            except Exception as exc:
                results.append((time.monotonic() - started, repr(exc)))

    worker = threading.Thread(target=logins)
    worker.start()
    try:  # by counts of logins, not seconds: a login takes longer on a busy machine
        wait_until(lambda: len(results) >= 5, 30, "logins before the failover")
        first.kill()  # mid-run
        killed = len(results)
        wait_until(lambda: len(results) >= killed + 7, 30, "logins after the failover")
    finally:
        stop.set()
        worker.join()
        bridge.stop()
        second.stop()
    assert len(results) > 10
    assert all(user == "reader@%" for _, user in results), [
        r for r in results if r[1] != "reader@%"
    ]
    assert max(took for took, _ in results) < 3.0  # within the connect + response timeouts
    assert f"LDAP server {first.tls_url} unavailable" in bridge.log


def test_directory_down_is_a_clean_error(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> None:
    bridge = ldap_bridge(tmp_path / "bridge", mariadb, certs, f"ldaps://127.0.0.1:{free_port()}")
    try:
        started = time.monotonic()
        errno, _ = error_of(
            pytest.raises(Exception, connect, "pymysql", bridge, "alice", "alice-ldap").value
        )
        assert errno == 1045 and time.monotonic() - started < 5
        assert "backend outage" in bridge.log
    finally:
        bridge.stop()


def test_explain_check_backend_asks_the_directory(bridge_ldap: Bridge) -> None:
    cmd = [sys.executable, "-m", "bridge", "explain", "-c", str(bridge_ldap.config), "dave", "--host", "10.1.2.3",
           "--check-backend"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "backend ldap reports the groups: " in done.stdout and "dbadmins" in done.stdout
    assert (
        "account: 'developer'@'%' (proxied)" in done.stdout
    )  # dbadmins comes first in the mapping
    assert done.returncode == 0, done.stderr


def test_an_unknown_name_gets_a_wrong_passwords_answer_after_a_decoy_bind(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """The search finds no entry: the bridge still binds (as a DN no entry has, on a fresh
    TLS connection, as for a wrong password), slapd logs it and refuses it, and every client
    gets the very ERR a wrong password gets."""
    watched = start_slapd(tmp_path / "slapd", certs, debug="stats")
    bridge = ldap_bridge(tmp_path / "bridge", mariadb, certs, watched.tls_url)
    try:
        for client in ("pymysql", "connector", "mysqlclient"):
            wrong = error_of(
                pytest.raises(Exception, connect, client, bridge, "alice", "not-hers").value
            )
            unknown = error_of(pytest.raises(Exception, connect, client, bridge, "nosuch", "not-hers").value)  # fmt: skip
            assert wrong == (
                1045,
                "Access denied for user 'alice'@'localhost' (using password: YES)",
            )
            assert unknown == (
                1045,
                "Access denied for user 'nosuch'@'localhost' (using password: YES)",
            )
        cli = mariadb_cli(bridge, "nosuch", "not-hers")
        assert cli.returncode == 1 and cli.stderr.startswith(
            "ERROR 1045 (28000): Access denied for user 'nosuch'"
        )
        assert (
            bridge.log.count("LDAP search for uid='nosuch' found 0 entries (decoy bind made)") == 4
        )
        binds = re.findall(r'BIND dn="([^"]*)"', watched.operations())
        assert len([dn for dn in binds if dn.startswith("cn=mysql-auth-bridge-decoy-")]) == 4
        assert len([dn for dn in binds if dn == f"uid=alice,{PEOPLE}"]) == 3
        assert not [dn for dn in binds if "nosuch" in dn]
    finally:
        bridge.stop()
        watched.stop()


def test_health_and_status_say_why_no_server_answered(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, other_certs: CertSet, slapd: Slapd
) -> None:
    """/healthz and the admin `status` carry each server's cause, not a bare 'unavailable'."""
    hung = start_slapd(tmp_path / "hung", certs)
    hung.proc.send_signal(signal.SIGSTOP)
    refused, port = f"ldap://127.0.0.1:{free_port()}", free_port()
    settings = ldap_settings(tmp_path, other_certs, slapd.tls_url, hung.url, refused)
    settings["ca"] = str(other_certs.ca)  # not the CA that signed slapd's certificate
    bridge = start_bridge(tmp_path / "bridge", mariadb, certs, [], metrics={"listen": f"127.0.0.1:{port}"},
                          admin={"listen": f"unix:{tmp_path}/admin.sock"}, backends={"ldap": settings})  # fmt: skip
    try:
        status, text = scrape(port, "/healthz")
        said = json.loads(text)["backends"]["ldap"]
        time.sleep(PROBE_REUSE)  # a fresh probe, not /healthz's answer again
        done = subprocess.run([sys.executable, "-m", "bridge", "status", "--json", "-c", str(bridge.config)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    finally:
        bridge.stop()
        hung.proc.send_signal(signal.SIGCONT)
        hung.stop()
    verify = "TLS certificate verify failed (certificate signature failure): check ldap.ca and the server's name"
    causes = {
        slapd.tls_url: verify,
        hung.url: "no answer within 1 s",
        refused: "connection refused",
    }
    assert status == 503
    assert said == "unavailable: no LDAP server answered: " + "; ".join(
        f"{u}: {c}" for u, c in causes.items()
    )
    # a moment later: the same causes (those ldap3 has not tried again are said to be recent)
    again = json.loads(done.stdout)["backends"]["ldap"]
    assert again.startswith("unavailable: no LDAP server answered: ")
    assert all(f"{u}: {c}" in again for u, c in causes.items()), again
    assert re.search(
        rf"{refused}: connection refused \(\d s ago; ldap3 tries it again after 6 s\)", again
    )
