"""LDAP without base_dn through the bridge: real clients, a real slapd, group mapping that
works because the base is the directory's naming context (never the empty base)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.ldap import BASE
from sandbox.mariadb import MariaDB
from tests.integration.harness import Bridge, closing, connect, mariadb_cli, scalar, start_bridge
from tests.ldapfix import ldap_settings, start_slapd

pytestmark = pytest.mark.integration
MAPPING = "#dbadmins=developer,readers=reader"
GRANTS = [{"proxy": "''@'%'", "proxied": ["'developer'@'%'", "'reader'@'%'"]}]
UPSTREAM = {"developer": "up-developer", "reader": "up-reader"}


def _bridge(directory: Path, mariadb: MariaDB, certs: CertSet, url: str) -> Bridge:
    for user, password in UPSTREAM.items():
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")
    directory.mkdir(parents=True, exist_ok=True)
    settings = ldap_settings(directory, certs, url)
    del settings["base_dn"]  # not set at all, as in the issue
    accounts = [Account("", "", "authentication_ldap_simple", auth_string=MAPPING)]
    return start_bridge(directory, mariadb, certs, accounts, upstream_only=UPSTREAM,
                        proxy_grants=GRANTS, backends={"ldap": settings})  # fmt: skip


def test_mapped_logins_without_base_dn(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> None:
    slapd = start_slapd(tmp_path / "slapd", certs)
    bridge = _bridge(tmp_path / "bridge", mariadb, certs, slapd.tls_url)
    try:
        assert "base_dn" not in bridge.config.read_text()
        done = mariadb_cli(bridge, "alice", "alice-ldap")
        assert done.stdout.strip() == "developer@%", done.stderr + bridge.log
        with closing(connect("pymysql", bridge, "bob", "bob-ldap", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"
        assert f"base_dn not set, searching under '{BASE}' (from the rootDSE)" in bridge.log
    finally:
        bridge.stop()
        slapd.stop()


def test_ambiguous_directory_denies_and_says_to_set_base_dn(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    slapd = start_slapd(tmp_path / "slapd", certs, ("dc=other,dc=test",))
    bridge = _bridge(tmp_path / "bridge", mariadb, certs, slapd.tls_url)
    try:
        done = mariadb_cli(bridge, "alice", "alice-ldap")
        assert done.returncode == 1 and "ERROR 1045" in done.stderr
        assert "names 2 naming contexts" in bridge.log and "set ldap.base_dn" in bridge.log
        assert "backend outage" not in bridge.log  # a configuration to fix, not an outage
    finally:
        bridge.stop()
        slapd.stop()
