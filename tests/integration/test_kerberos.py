"""Kerberos end to end, against a real MIT KDC: single sign-on with a ticket (kinit) through
MariaDB's auth_gssapi_client (mariadb CLI, mysqlclient) and MySQL's
authentication_kerberos_client (Connector/Python), password logins verified against the
keytab, realms, groups from LDAP, and a KDC that is down."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.kdc import Kdc
from sandbox.ldap import Person, Slapd
from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    Bridge,
    bridge_attr,
    closing,
    connect,
    current_user_script,
    error_of,
    in_subprocess,
    mariadb_cli,
    scalar,
    start_bridge,
)
from tests.krbfix import PRINCIPALS
from tests.ldapfix import SERVICE_PASSWORD, ldap_settings

pytestmark = pytest.mark.integration
SERVICE = "mysql/localhost@EXAMPLE.TEST"


def krb_bridge(
    directory: Path,
    mariadb: MariaDB,
    certs: CertSet,
    kdc: Kdc,
    keytab: Path,
    service: str = SERVICE,
    **extra: object,
) -> Bridge:
    for user in ("alice", "bob", "erin", "developer"):
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'up-{user}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")
    accounts = [
        Account("alice", "", "gssapi", upstream_password="up-alice"),  # MariaDB style, no AS
        Account("bob", "", "authentication_kerberos", upstream_password="up-bob", auth_string="EXAMPLE.TEST"),
        Account("karl", "", "gssapi", upstream_password="up-karl", auth_string="OTHER.TEST"),
        # Password logins with every client's default method: the row pins it.
        Account("erin", "", "authentication_kerberos", upstream_password="up-erin", auth_string="EXAMPLE.TEST",
                wire_method="caching_sha2_password"),
        Account("", "", "gssapi", auth_string="EXAMPLE.TEST, dbadmins=developer"),
    ]  # fmt: skip
    backends: dict[str, object] = {
        "kerberos": {"keytab": str(keytab), "service_principal": service, **extra}
    }
    if "groups_from_ldap" in extra:
        backends["ldap"] = extra.pop("_ldap")
        backends["kerberos"] = {"keytab": str(keytab), "service_principal": service, **extra}
    return start_bridge(directory, mariadb, certs, accounts, env=kdc.env, upstream_only={"developer": "up-developer"},
                        proxy_grants=[{"proxy": "''@'%'", "proxied": ["'developer'@'%'"]}],
                        backends=backends)  # fmt: skip


@pytest.fixture(scope="module")
def groups_slapd(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[Slapd]:
    """A directory of its own: dave, in dbadmins only (not the shared `slapd`'s people)."""
    server = Slapd.start(
        tmp_path_factory.mktemp("krb-ldap"),
        certs,
        [Person("dave", "x", ("dbadmins",))],
        SERVICE_PASSWORD,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bridge_krb(
    tmp_path_factory: pytest.TempPathFactory,
    mariadb: MariaDB,
    certs: CertSet,
    kdc: Kdc,
    groups_slapd: Slapd,
) -> Iterator[Bridge]:
    base = tmp_path_factory.mktemp("krb-bridge")
    keytab = kdc.service_keytab("mysql/localhost", base / "service.keytab")
    ldap = ldap_settings(base, certs, groups_slapd.tls_url)
    bridge = krb_bridge(
        base / "bridge", mariadb, certs, kdc, keytab, groups_from_ldap=True, _ldap=ldap
    )
    yield bridge
    bridge.stop()


def ticket(kdc: Kdc, tmp_path: Path, principal: str) -> dict[str, str]:
    return kdc.kinit(principal, PRINCIPALS[principal], tmp_path / f"{principal}.cc")


def test_mariadb_cli_single_sign_on(bridge_krb: Bridge, kdc: Kdc, tmp_path: Path) -> None:
    done = mariadb_cli(bridge_krb, "alice", None, env=ticket(kdc, tmp_path, "alice"))
    assert done.stdout.strip() == "alice@%", done.stderr


def test_mysqlclient_single_sign_on(bridge_krb: Bridge, kdc: Kdc, tmp_path: Path) -> None:
    script = current_user_script("mysqlclient", bridge_krb, "alice")
    done = in_subprocess(script, ticket(kdc, tmp_path, "alice"))
    assert done.stdout.strip() == "alice@%", done.stderr


def test_connector_python_authentication_kerberos_client(
    bridge_krb: Bridge, kdc: Kdc, tmp_path: Path
) -> None:
    script = current_user_script("connector", bridge_krb, "bob")
    done = in_subprocess(script, ticket(kdc, tmp_path, "bob"))
    assert done.stdout.strip().endswith("bob@%"), done.stderr


def test_a_client_without_a_ticket_is_logged_as_one(
    bridge_krb: Bridge, kdc: Kdc, tmp_path: Path
) -> None:
    """The mariadb CLI has the GSSAPI plugin but no ticket: it hangs up on the switch. The
    log line says that covers a client with nothing to answer, not only a missing plugin."""
    env = {**kdc.env, "KRB5CCNAME": str(tmp_path / "empty.cc")}
    done = mariadb_cli(bridge_krb, "alice", None, env=env)
    assert done.returncode != 0 and "alice@%" not in done.stdout
    bridge_krb.wait_log("client hung up on the switch to auth_gssapi_client")
    line = next(ln for ln in bridge_krb.log.splitlines() if "hung up on the switch to auth_g" in ln)
    assert "or has nothing to answer with, e.g. no Kerberos ticket" in line, line


def test_groups_from_ldap_map_a_principal(bridge_krb: Bridge, kdc: Kdc, tmp_path: Path) -> None:
    done = mariadb_cli(bridge_krb, "dave", None, env=ticket(kdc, tmp_path, "dave"))
    assert done.stdout.strip() == "developer@%", done.stderr


def test_wrong_principal_for_the_account(bridge_krb: Bridge, kdc: Kdc, tmp_path: Path) -> None:
    done = mariadb_cli(
        bridge_krb, "alice", None, env=ticket(kdc, tmp_path, "bob")
    )  # bob's ticket, as alice
    assert "ERROR 1045" in done.stderr
    assert "principal 'bob@EXAMPLE.TEST' may not log in as 'alice'" in bridge_krb.log


def test_realm_not_allowed_is_denied(bridge_krb: Bridge, kdc: Kdc, tmp_path: Path) -> None:
    done = mariadb_cli(bridge_krb, "karl", None, env=ticket(kdc, tmp_path, "karl"))
    assert "ERROR 1045" in done.stderr
    assert (
        "realm 'EXAMPLE.TEST' of 'karl@EXAMPLE.TEST' is not accepted (OTHER.TEST)" in bridge_krb.log
    )


def test_password_login_verified_with_the_keytab(bridge_krb: Bridge) -> None:
    done = mariadb_cli(bridge_krb, "bob", "bob-krb", "--default-auth=mysql_clear_password")
    assert done.stdout.strip() == "bob@%", done.stderr
    wrong = mariadb_cli(bridge_krb, "bob", "nope", "--default-auth=mysql_clear_password")
    assert "ERROR 1045" in wrong.stderr
    for client in ("pymysql", "connector", "mysqlclient"):
        with closing(connect(client, bridge_krb, "erin", "erin-krb", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "erin@%"
            assert bridge_attr(conn, "bridge_external_user") == "erin@EXAMPLE.TEST"
    assert (
        error_of(pytest.raises(Exception, connect, "pymysql", bridge_krb, "erin", "bad").value)[0]
        == 1045
    )


def test_a_tgt_alone_is_not_accepted(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, kdc: Kdc
) -> None:
    """Re-key the service principal in the KDC without updating the bridge's keytab: the
    password still gets a TGT, but the service ticket cannot be accepted: denied."""
    keytab = kdc.service_keytab("mysql/stale", tmp_path / "stale.keytab")
    bridge = krb_bridge(
        tmp_path / "bridge", mariadb, certs, kdc, keytab, service="mysql/stale@EXAMPLE.TEST"
    )
    clear = "--default-auth=mysql_clear_password"
    try:
        assert mariadb_cli(bridge, "bob", "bob-krb", clear).stdout.strip() == "bob@%"
        kdc.kadmin("cpw -randkey mysql/stale")  # the KDC's key for the service changes
        done = mariadb_cli(bridge, "bob", "bob-krb", clear)
        assert "ERROR 1045" in done.stderr
        assert "Kerberos password login for 'bob@EXAMPLE.TEST'" in bridge.log
    finally:
        bridge.stop()


def test_kdc_down_is_a_clean_error(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> None:
    kdc = Kdc.start(tmp_path / "kdc", {"bob": "bob-krb"})
    keytab = kdc.service_keytab("mysql/localhost", tmp_path / "service.keytab")
    bridge = krb_bridge(tmp_path / "bridge", mariadb, certs, kdc, keytab)
    try:
        kdc.stop()
        done = mariadb_cli(bridge, "bob", "bob-krb", "--default-auth=mysql_clear_password")
        assert "ERROR 1045" in done.stderr
        assert "backend outage" in bridge.log and "KDC unreachable" in bridge.log
    finally:
        bridge.stop()


@pytest.mark.parametrize("credential", ["ticket", "password"])
def test_connector_python_opening_with_the_kerberos_plugin(
    bridge_krb: Bridge, kdc: Kdc, tmp_path: Path, credential: str
) -> None:
    """Connector/Python's documented form, auth_plugin='authentication_kerberos_client',
    sends a NUL (or the password and a NUL) in the HandshakeResponse, before it knows the
    service principal: the bridge answers with the principal and realm and goes on. With
    a password and no ticket, the client gets its ticket from the KDC with that password."""
    password = PRINCIPALS["bob"] if credential == "password" else ""
    script = current_user_script("connector", bridge_krb, "bob", password=password,
                                 auth_plugin="authentication_kerberos_client")  # fmt: skip
    if credential == "ticket":
        env = ticket(kdc, tmp_path, "bob")
    else:  # no ticket at all (the client stores the one it gets at this plain path)
        env = {**kdc.env, "KRB5CCNAME": str(tmp_path / "none.cc")}
    done = in_subprocess(script, env)
    assert done.stdout.strip().endswith("bob@%"), done.stderr
    if credential == "password":
        assert (tmp_path / "none.cc").exists()  # the client's own kinit with the password


def explain_check_backend(bridge: Bridge, user: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "bridge", "explain", "-c", str(bridge.config), user,
           "--host", "10.1.2.3", "--check-backend"]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_explain_check_backend_looks_up_the_ldap_groups(bridge_krb: Bridge) -> None:
    """groups_from_ldap: explain asks the directory for the principal's user part, as a
    login does, and maps dave (dbadmins) to developer; a name the directory does not know
    has no groups, as at login."""
    done = explain_check_backend(bridge_krb, "dave")
    assert "backend kerberos reports the groups: dbadmins" in done.stdout, done.stderr
    assert "account: 'developer'@'%' (proxied)" in done.stdout
    assert done.returncode == 0, done.stderr
    done = explain_check_backend(bridge_krb, "nobody")
    assert "backend kerberos reports the groups: (none)" in done.stdout, done.stderr
    assert done.returncode == 1  # no group, no mapping: denied


def test_explain_check_backend_without_ldap_groups_says_so(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, kdc: Kdc
) -> None:
    keytab = kdc.service_keytab("mysql/localhost", tmp_path / "service.keytab")
    bridge = krb_bridge(tmp_path / "bridge", mariadb, certs, kdc, keytab)
    try:
        done = explain_check_backend(bridge, "dave")
        assert "backend kerberos: keeps no groups to look up (groups_from_ldap is off)" in (
            done.stderr
        )
    finally:
        bridge.stop()
