"""Active Directory for real: LDAP and Kerberos logins through the bridge against a Samba AD
domain controller (sandbox/samba.py), with real clients. sAMAccountName and UPN
searches, memberOf and the in-chain rule for nested groups, the service account's search
and the user's bind over LDAPS and StartTLS with certificate verification, AD's bind
sub-codes mapped to what mysqld would answer, referrals not chased, and single sign-on with
tickets from the DC's KDC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.samba import ACCOUNT_DISABLED, BASE, NORMAL_ACCOUNT, REALM, SambaDC
from tests.adfix import PASSWORDS, ad_settings
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

pytestmark = pytest.mark.integration
MAPPING = "#dbadmins=developer,dbas=operator,readers=reader"
UPSTREAM = {"developer": "up-developer", "operator": "up-operator", "reader": "up-reader"}
GRANTS = [{"proxy": "''@'%'", "proxied": [f"'{u}'@'%'" for u in UPSTREAM]}]
SERVER = {"connect_timeout": 20}  # the handshake waits for the DC on a loaded machine


def create_upstream(mariadb: MariaDB) -> None:
    for user, password in UPSTREAM.items():
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")


def ad_bridge(directory: Path, mariadb: MariaDB, certs: CertSet, dc: SambaDC, url: str,
              **ldap: object) -> Bridge:  # fmt: skip
    create_upstream(mariadb)
    directory.mkdir(parents=True, exist_ok=True)
    accounts = [Account("", "", "authentication_ldap_simple", auth_string=MAPPING)]
    return start_bridge(directory, mariadb, certs, accounts, upstream_only=UPSTREAM, proxy_grants=GRANTS,
                        audit_log="audit.jsonl", server=SERVER,
                        backends={"ldap": ad_settings(directory, dc, url, **ldap)})  # fmt: skip


def audit(bridge: Bridge, user: str) -> dict[str, Any]:
    """The last audit record for this user."""
    lines = bridge.audit_text().splitlines()  # written by a thread: settled first
    records = [json.loads(line) for line in lines]
    mine: list[dict[str, Any]] = [r for r in records if r["user"] == user]
    return mine[-1]


def refused(bridge: Bridge, user: str, password: str, client: str = "pymysql") -> tuple[int, str]:
    return error_of(pytest.raises(Exception, connect, client, bridge, user, password).value)


@pytest.fixture(scope="module", params=["ldaps", "starttls"])
def bridge_ad(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    mariadb: MariaDB,
    certs: CertSet,
    samba_dc: SambaDC,
) -> Iterator[Bridge]:
    """sAMAccountName search, groups by a search with the in-chain rule (nested_groups: ad)."""
    url = samba_dc.ldaps_url if request.param == "ldaps" else samba_dc.ldap_url
    bridge = ad_bridge(tmp_path_factory.mktemp("ad-bridge"), mariadb, certs, samba_dc, url)
    yield bridge
    bridge.stop()


# --- logins and groups ------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["pymysql", "connector", "mysqlclient"])
def test_in_chain_rule_maps_a_user_in_a_to_the_account_of_b(bridge_ad: Bridge, client: str) -> None:
    """alice is in dbas, dbas is in dbadmins: the in-chain rule finds both, and dbadmins
    comes first in the mapping."""
    with closing(connect(client, bridge_ad, "alice", PASSWORDS["alice"], "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
        assert bridge_attr(conn, "bridge_external_user") == "alice"
    with closing(connect(client, bridge_ad, "bob", PASSWORDS["bob"], "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"
    assert sorted(audit(bridge_ad, "alice")["groups"]) == ["dbadmins", "dbas"]


def test_mariadb_cli_default_plugin_and_cleartext(bridge_ad: Bridge) -> None:
    done = mariadb_cli(bridge_ad, "alice", PASSWORDS["alice"])
    assert done.stdout.strip() == "developer@%", done.stderr
    done = mariadb_cli(bridge_ad, "bob", PASSWORDS["bob"], "--default-auth=mysql_clear_password")
    assert done.stdout.strip() == "reader@%", done.stderr


def test_memberof_lists_direct_groups_only(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC
) -> None:
    bridge = ad_bridge(tmp_path, mariadb, certs, samba_dc, samba_dc.ldaps_url, groups_from="memberof",
                       nested_groups="none")  # fmt: skip
    try:
        with closing(connect("mysqlclient", bridge, "alice", PASSWORDS["alice"])) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "operator@%"  # dbas, not dbadmins
        assert audit(bridge, "alice")["groups"] == ["dbas"]
    finally:
        bridge.stop()


@pytest.fixture
def delegated_dbadmins(samba_dc: SambaDC) -> Iterator[None]:
    """An OU whose administrators may create groups (a help desk, a team), and in it a group
    named like the mapped `dbadmins` (its own sAMAccountName: AD wants those unique), with
    erin, who is in no mapped group, as its member."""
    ou, group = f"OU=Delegated,{BASE}", f"CN=dbadmins,OU=Delegated,{BASE}"
    conn = samba_dc.admin()
    try:
        assert conn.add(ou, ["top", "organizationalUnit"]), conn.result
        assert conn.add(group, ["top", "group"], {"sAMAccountName": "team-dbadmins",
                                                 "member": [f"CN=erin,CN=Users,{BASE}"]}), conn.result  # fmt: skip
        yield
    finally:
        conn.delete(group)
        conn.delete(ou)
        conn.unbind()


def test_memberof_counts_only_groups_under_the_group_search_base(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC, delegated_dbadmins: None
) -> None:
    """memberOf names groups anywhere in the directory, read by their first RDN: without a
    group_search_base the delegated OU's `dbadmins` maps erin to developer; with it (the
    Users container, where the real groups are) only the groups under it count."""
    loose = ad_bridge(tmp_path / "loose", mariadb, certs, samba_dc, samba_dc.ldaps_url,
                      groups_from="memberof", nested_groups="none")  # fmt: skip
    try:
        with closing(connect("pymysql", loose, "erin", PASSWORDS["erin"])) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
    finally:
        loose.stop()
    bridge = ad_bridge(tmp_path / "based", mariadb, certs, samba_dc, samba_dc.ldaps_url,
                       groups_from="memberof", nested_groups="none",
                       group_search_base=f"CN=Users,{BASE}")  # fmt: skip
    try:
        assert refused(bridge, "erin", PASSWORDS["erin"])[0] == 1045
        assert "no group in the mapping matched" in audit(bridge, "erin")["reason"]
        with closing(connect("mysqlclient", bridge, "alice", PASSWORDS["alice"])) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "operator@%"  # dbas, as before
    finally:
        bridge.stop()


def test_token_groups_include_nested_and_primary_groups(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC
) -> None:
    """tokenGroups, computed by the DC: dbas, dbadmins (nested), and the primary group
    Domain Users that neither memberOf nor a member search shows."""
    bridge = ad_bridge(tmp_path, mariadb, certs, samba_dc, samba_dc.ldap_url, groups_from="tokengroups",
                       nested_groups="none")  # fmt: skip
    try:
        with closing(connect("pymysql", bridge, "alice", PASSWORDS["alice"])) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
        assert {"dbas", "dbadmins", "Domain Users"} <= set(audit(bridge, "alice")["groups"])
        with closing(connect("pymysql", bridge, "bob", PASSWORDS["bob"])) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"
        assert refused(bridge, "erin", PASSWORDS["erin"])[0] == 1045  # in no mapped group
        assert "no group in the mapping matched" in audit(bridge, "erin")["reason"]
    finally:
        bridge.stop()


def test_login_by_user_principal_name(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC
) -> None:
    bridge = ad_bridge(tmp_path, mariadb, certs, samba_dc, samba_dc.ldap_url,
                       user_search_attr="userPrincipalName")  # fmt: skip
    try:
        with closing(connect("connector", bridge, "alice@ad.test", PASSWORDS["alice"])) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
            assert bridge_attr(conn, "bridge_external_user") == "alice@ad.test"
        done = mariadb_cli(bridge, "bob@ad.test", PASSWORDS["bob"])
        assert done.stdout.strip() == "reader@%", done.stderr
        assert refused(bridge, "alice", PASSWORDS["alice"])[0] == 1045  # no such UPN
    finally:
        bridge.stop()


def test_certificate_of_another_ca_is_refused(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC
) -> None:
    """The DC's certificate is checked against `ca`: the bridge's own test CA is not the
    DC's, so neither LDAPS nor StartTLS gets as far as a bind."""
    for n, url in enumerate((samba_dc.ldaps_url, samba_dc.ldap_url)):
        bridge = ad_bridge(tmp_path / str(n), mariadb, certs, samba_dc, url, ca=str(certs.ca))
        try:
            assert refused(bridge, "bob", PASSWORDS["bob"])[0] == 1045
            assert "backend outage" in bridge.log
        finally:
            bridge.stop()


# --- AD's reasons for a refused bind --------------------------------------------------------


def test_wrong_password_and_unknown_user_look_the_same(bridge_ad: Bridge) -> None:
    wrong = refused(bridge_ad, "bob", "Not-the-pw-1")
    unknown = refused(bridge_ad, "nosuch", "Not-the-pw-1")
    assert wrong[0] == unknown[0] == 1045
    assert wrong[1].replace("bob", "X") == unknown[1].replace("nosuch", "X")
    assert "wrong password (AD data 52e)" in bridge_ad.log
    assert (
        "LDAP search for sAMAccountName='nosuch' found 0 entries (decoy bind made)" in bridge_ad.log
    )
    assert audit(bridge_ad, "bob")["result"] == "denied"


def bad_password_counts(dc: SambaDC) -> dict[str, int]:
    conn = dc.admin()
    try:
        conn.search(BASE, "(objectClass=user)", attributes=["sAMAccountName", "badPwdCount"])
        return {str(e.sAMAccountName): int(e.badPwdCount.value or 0) for e in conn.entries}
    finally:
        conn.unbind()


def test_decoy_binds_touch_no_account(bridge_ad: Bridge, samba_dc: SambaDC) -> None:
    """More unknown names than the domain's lockout threshold (3): the decoy binds count
    against no entry, so no real account's failure count moves and nobody is locked out."""
    before = bad_password_counts(samba_dc)
    for n in range(5):
        assert refused(bridge_ad, f"nosuch{n}", "Not-the-pw-1")[0] == 1045
    assert bad_password_counts(samba_dc) == before
    assert bridge_ad.log.count("(decoy bind made)") >= 5
    assert refused(bridge_ad, "carl", "Not-the-pw-1")[0] == 1045  # a real one does count
    assert bad_password_counts(samba_dc) == {**before, "carl": before["carl"] + 1}
    with closing(connect("pymysql", bridge_ad, "carl", PASSWORDS["carl"], "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"  # and resets carl's count


def test_empty_password_samba_refuses_and_the_bridge_never_sends(
    bridge_ad: Bridge, samba_dc: SambaDC
) -> None:
    """Unlike Windows AD's default, Samba refuses a name with an empty password (52e): the
    guard itself is proven against slapd (test_ldap.py); here, that no bind is sent."""
    env = {**os.environ, "LDAPTLS_CACERT": str(samba_dc.certs.ca)}
    whoami = [
        "ldapwhoami",
        "-x",
        "-H",
        samba_dc.ldaps_url,
        "-D",
        f"CN=bob,CN=Users,{BASE}",
        "-w",
        "",
    ]
    done = subprocess.run(whoami, capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 49 and "data 52e" in done.stderr, done.stderr
    assert refused(bridge_ad, "bob", "", "mysqlclient")[0] == 1045
    assert "empty password: no LDAP bind" in audit(bridge_ad, "bob")["reason"]


def test_disabled_account_is_1045_with_the_reason_logged(bridge_ad: Bridge) -> None:
    errno, message = refused(bridge_ad, "dana", PASSWORDS["dana"])
    assert (errno, message) == (
        1045,
        "Access denied for user 'dana'@'localhost' (using password: YES)",
    )
    record = audit(bridge_ad, "dana")
    assert record["result"] == "denied" and "account disabled (AD data 533)" in record["reason"]
    assert "account disabled (AD data 533)" in bridge_ad.log


def test_must_change_password_is_1862(bridge_ad: Bridge) -> None:
    """AD says 773 only to the right password: the client gets mysqld's answer for an
    expired password; a wrong password stays 1045 (52e)."""
    expected = ("Your password has expired. To log in you must change it using a client that "
                "supports expired passwords")  # fmt: skip
    for client in ("pymysql", "connector", "mysqlclient"):
        assert refused(bridge_ad, "chris", PASSWORDS["chris"], client) == (1862, expected)
    done = mariadb_cli(bridge_ad, "chris", PASSWORDS["chris"])
    assert "ERROR 1862" in done.stderr and done.returncode != 0
    record = audit(bridge_ad, "chris")
    assert (
        record["result"] == "denied"
        and "password must be changed (AD data 773)" in record["reason"]
    )
    # One log line for each refusal, the one that gives the reason (no 'refused:' echo).
    said = [line for line in bridge_ad.log.splitlines() if "AD data 773" in line]
    assert len(said) == 4 and all("access denied: user='chris'" in line for line in said), said
    assert refused(bridge_ad, "chris", "Not-the-pw-1")[0] == 1045


def test_locked_out_account_is_1045_with_the_reason_logged(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC
) -> None:
    """Three wrong passwords lock lou out (the domain's lockoutThreshold); then even the
    right one is refused with 775."""
    bridge = ad_bridge(tmp_path, mariadb, certs, samba_dc, samba_dc.ldaps_url)
    try:
        for _ in range(3):
            assert refused(bridge, "lou", "Not-the-pw-1")[0] == 1045
        errno, message = refused(bridge, "lou", PASSWORDS["lou"])
        assert (errno, message) == (
            1045,
            "Access denied for user 'lou'@'localhost' (using password: YES)",
        )
        assert "account locked out (AD data 775)" in audit(bridge, "lou")["reason"]
        assert "account locked out (AD data 775)" in bridge.log
    finally:
        samba_dc.set_attribute(f"CN=lou,CN=Users,{BASE}", lockoutTime=0)
        bridge.stop()


# --- referrals --------------------------------------------------------------------------------


async def test_referrals_are_not_chased(tmp_path: Path, samba_dc: SambaDC) -> None:
    """A subtree search from the domain root comes back with continuation references to
    ldaps://ad.test/...: the backend neither resolves nor contacts ad.test."""
    from bridge.backends.base import Peer
    from bridge.backends.ldap import LdapBackend
    from bridge.config import LdapConfig
    from bridge.credentials import ClearPassword
    from bridge.mapping.accounts import AccountRow
    from bridge.mapping.hosts import client_host

    admin = samba_dc.admin()
    admin.search(BASE, "(sAMAccountName=alice)")
    assert any(e["type"] == "searchResRef" and "ad.test" in str(e["uri"]) for e in admin.response)
    admin.unbind()
    config = LdapConfig.model_validate(ad_settings(tmp_path, samba_dc, samba_dc.ldaps_url))
    row = AccountRow("", "%", "authentication_ldap_simple", MAPPING.encode(), "test")
    from tests.sockwatch import SocketWatch

    watch = SocketWatch()
    watch.on = True
    try:
        identity = await LdapBackend(config).verify(
            ClearPassword(PASSWORDS["alice"].encode()), "alice", row,
            Peer(client_host("10.0.0.9", False), "tls"),
        )  # fmt: skip
    finally:
        watch.on = False
    assert sorted(identity.groups) == ["dbadmins", "dbas"]
    assert watch.hosts and set(watch.hosts) == {samba_dc.address}, watch.hosts


# --- Kerberos against the DC's KDC ------------------------------------------------------------

KRB_SERVICE = f"mysql/localhost@{REALM}"
KRB_USERS = ("bob", "carl", "erin")


@pytest.fixture(scope="module")
def bridge_krb(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC
) -> Iterator[Bridge]:
    """The SPN's keytab as samba-tool exports it; groups for anonymous rows from the DC by
    LDAP (in-chain rule)."""
    base = tmp_path_factory.mktemp("ad-krb")
    keytab = samba_dc.export_keytab("mysql/localhost", base / "mysql.keytab")
    create_upstream(mariadb)
    for user in KRB_USERS:
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'up-{user}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")
    accounts = [
        Account("bob", "", "gssapi", upstream_password="up-bob"),  # MariaDB style, no AS
        Account("carl", "", "authentication_kerberos", upstream_password="up-carl", auth_string=REALM),
        Account("erin", "", "authentication_kerberos", upstream_password="up-erin", auth_string=REALM,
                wire_method="caching_sha2_password"),
        *(Account(user, "", "authentication_kerberos", auth_string=REALM, wire_method="caching_sha2_password")
          for user in ("dana", "chris")),
        Account("", "", "gssapi", auth_string=f"{REALM}, dbadmins=developer, readers=reader"),
    ]  # fmt: skip
    backends = {
        "kerberos": {"keytab": str(keytab), "service_principal": KRB_SERVICE, "groups_from_ldap": True},
        "ldap": ad_settings(base, samba_dc, samba_dc.ldaps_url),
    }  # fmt: skip
    bridge = start_bridge(base / "bridge", mariadb, certs, accounts, env=samba_dc.env, upstream_only=UPSTREAM,
                          proxy_grants=GRANTS, audit_log="audit.jsonl", server=SERVER, backends=backends)  # fmt: skip
    yield bridge
    bridge.stop()


def ticket(dc: SambaDC, tmp_path: Path, user: str) -> dict[str, str]:
    return dc.kinit(f"{user}@{REALM}", PASSWORDS[user], tmp_path / f"{user}.cc")


def test_mariadb_cli_single_sign_on_with_an_aes_ticket(
    bridge_krb: Bridge, samba_dc: SambaDC, tmp_path: Path
) -> None:
    env = ticket(samba_dc, tmp_path, "bob")
    done = mariadb_cli(bridge_krb, "bob", None, env=env)
    assert done.stdout.strip() == "bob@%", done.stderr
    tickets = subprocess.run(
        ["klist", "-e"], env={**os.environ, **env}, capture_output=True, text=True
    ).stdout
    service = tickets[tickets.index(KRB_SERVICE) :]
    assert "aes256-cts-hmac-sha1-96" in service.splitlines()[1], tickets  # not RC4


def test_mysqlclient_single_sign_on(bridge_krb: Bridge, samba_dc: SambaDC, tmp_path: Path) -> None:
    script = current_user_script("mysqlclient", bridge_krb, "bob")
    done = in_subprocess(script, ticket(samba_dc, tmp_path, "bob"))
    assert done.stdout.strip() == "bob@%", done.stderr


def test_connector_python_authentication_kerberos_client(
    bridge_krb: Bridge, samba_dc: SambaDC, tmp_path: Path
) -> None:
    script = current_user_script("connector", bridge_krb, "carl")
    done = in_subprocess(script, ticket(samba_dc, tmp_path, "carl"))
    assert done.stdout.strip().endswith("carl@%"), done.stderr


def test_kerberos_login_with_ad_groups(
    bridge_krb: Bridge, samba_dc: SambaDC, tmp_path: Path
) -> None:
    """alice has no row of her own: her ticket proves alice@AD.TEST, the directory says she
    is in dbas, which is in dbadmins (in-chain rule), and dbadmins maps to developer."""
    done = mariadb_cli(bridge_krb, "alice", None, env=ticket(samba_dc, tmp_path, "alice"))
    assert done.stdout.strip() == "developer@%", done.stderr
    record = audit(bridge_krb, "alice")
    assert (record["identity"], sorted(record["groups"])) == ("alice", ["dbadmins", "dbas"])


def test_a_ticket_from_before_the_account_was_disabled_logs_in_no_more(
    bridge_krb: Bridge, samba_dc: SambaDC, tmp_path: Path
) -> None:
    """Offboarding disables the AD account; the user still holds a service ticket for the
    bridge (valid for hours), which no KDC is asked about again. The bridge asks the
    directory for the groups anyway (groups_from_ldap), and its answer says disabled."""
    env = ticket(samba_dc, tmp_path, "alice")
    done = mariadb_cli(bridge_krb, "alice", None, env=env)  # the service ticket, now cached
    assert done.stdout.strip() == "developer@%", done.stderr
    alice = f"CN=alice,CN=Users,{BASE}"
    samba_dc.set_attribute(alice, userAccountControl=ACCOUNT_DISABLED)
    try:
        done = mariadb_cli(bridge_krb, "alice", None, env=env)
        assert (
            done.returncode == 1
            and "ERROR 1045 (28000): Access denied for user 'alice'" in done.stderr
        ), done.stderr
        assert "account disabled (userAccountControl)" in audit(bridge_krb, "alice")["reason"]
    finally:
        samba_dc.set_attribute(alice, userAccountControl=NORMAL_ACCOUNT)
    done = mariadb_cli(bridge_krb, "alice", None, env=env)
    assert done.stdout.strip() == "developer@%", done.stderr


def test_password_logins_verified_with_the_exported_keytab(bridge_krb: Bridge) -> None:
    clear = "--default-auth=mysql_clear_password"
    done = mariadb_cli(bridge_krb, "carl", PASSWORDS["carl"], clear)
    assert done.stdout.strip() == "carl@%", done.stderr
    assert "ERROR 1045" in mariadb_cli(bridge_krb, "carl", "Not-the-pw-1", clear).stderr
    for client in ("pymysql", "connector", "mysqlclient"):
        with closing(connect(client, bridge_krb, "erin", PASSWORDS["erin"], "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "erin@%"
            assert bridge_attr(conn, "bridge_external_user") == f"erin@{REALM}"
    assert refused(bridge_krb, "erin", "Not-the-pw-1")[0] == 1045
    assert "Kerberos password login for 'erin@AD.TEST': Preauthentication failed" in bridge_krb.log


@pytest.mark.parametrize(("user", "reason"), [("dana", "Client's credentials have been revoked"),
                                              ("chris", "Password has expired")])  # fmt: skip
def test_kerberos_password_refusals_are_1045_with_the_kdc_reason(
    bridge_krb: Bridge, user: str, reason: str
) -> None:
    """Disabled, and must change the password: the KDC's reason in the log and the audit
    record; 1045 on the wire (see docs/kerberos.md for why not 1862 here)."""
    assert refused(bridge_krb, user, PASSWORDS[user]) == (
        1045,
        f"Access denied for user '{user}'@'localhost' (using password: YES)",
    )
    assert reason in audit(bridge_krb, user)["reason"]


def test_demo_with_an_ad_domain_controller() -> None:
    """`scripts/demo --check --ad`: every demo login, with LDAP and Kerberos from a Samba DC
    of its own, the must-change user's ERROR 1862, and check --online on its config."""
    from sandbox.ports import free_port

    demo = [
        sys.executable,
        "-m",
        "sandbox.demo",
        "--check",
        "--ad",
        "--port",
        str(free_port()),
    ]
    done = subprocess.run(demo, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok   AD: newhire must change the password first (ERROR 1862)" in done.stdout
    assert "ok   Kerberos single sign-on" in done.stdout and "FAIL" not in done.stdout
    # check --online on the demo's --ad config: the keytab proven through the DC's KDC
    assert (
        f"ok   check --online, the keytab: ok: Kerberos service ticket for {KRB_SERVICE} from "
        f"the KDC (asked for as svc-bridge@{REALM} with backends.ldap's service-account "
        f"password;" in done.stdout
    ), done.stdout


def test_explain_check_backend_on_a_kerberos_row_asks_ad_for_the_groups(
    bridge_krb: Bridge,
) -> None:
    """docs/mapping.md's check of the AD group mapping, for a Kerberos row with
    groups_from_ldap: alice's groups by the in-chain rule (dbas, and dbadmins through it)."""
    cmd = [sys.executable, "-m", "bridge", "explain", "-c", str(bridge_krb.config), "alice",
           "--host", "10.1.2.3", "--check-backend"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    reported = next(line for line in done.stdout.splitlines() if "reports the groups" in line)
    assert reported.startswith("backend kerberos reports the groups: ")
    assert sorted(reported.split(": ", 1)[1].split(", ")) == ["dbadmins", "dbas"]
    assert "account: 'developer'@'%' (proxied)" in done.stdout
    assert done.returncode == 0, done.stderr
