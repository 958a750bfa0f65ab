"""groups_from: memberof with a group_search_base against a real slapd (memberof overlay):
a group whose multi-valued RDN ends in the base's last RDN (`cn=readers+ou=groups` right
under the base DN) is not under the base, however its DN's components line up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.ldap import ADMIN_DN, GROUPS, PEOPLE, Slapd
from sandbox.mariadb import MariaDB
from tests.integration.harness import Bridge, closing, connect, error_of, scalar, start_bridge
from tests.integration.test_ldap import GRANTS, UPSTREAM
from tests.ldapfix import ldap_settings

pytestmark = pytest.mark.integration
BASE_DN = "dc=example,dc=com"
LOOKALIKE = f"cn=readers+ou=groups,{BASE_DN}"  # not under ou=groups: beside it


@pytest.fixture
def lookalike_group(slapd: Slapd) -> Iterator[None]:
    """What someone who may create groups right under the base DN (not in ou=groups) adds:
    a groupOfNames (which may carry `ou`) named readers+ou=groups, with carol in it."""
    conn = ldap3.Connection(slapd.url, ADMIN_DN, "admin-secret", auto_bind=True)
    attributes = {"cn": "readers", "ou": "groups", "member": [f"uid=carol,{PEOPLE}"]}
    assert conn.add(LOOKALIKE, ["groupOfNames"], attributes), conn.result
    try:
        yield
    finally:
        conn.delete(LOOKALIKE)
        conn.unbind()


def memberof_bridge(directory: Path, mariadb: MariaDB, certs: CertSet, slapd: Slapd) -> Bridge:
    for user, password in UPSTREAM.items():
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")
    directory.mkdir(parents=True, exist_ok=True)
    settings = ldap_settings(directory, certs, slapd.url, groups_from="memberof",
                             group_search_base=GROUPS)  # fmt: skip
    accounts = [Account("", "", "authentication_ldap_simple", auth_string="#readers=reader")]
    return start_bridge(directory, mariadb, certs, accounts, upstream_only=UPSTREAM,
                        proxy_grants=GRANTS, backends={"ldap": settings})  # fmt: skip


def test_a_multi_valued_rdn_beside_the_base_is_not_under_it(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, slapd: Slapd, lookalike_group: None
) -> None:
    bridge = memberof_bridge(tmp_path, mariadb, certs, slapd)
    try:
        with closing(connect("pymysql", bridge, "bob", "bob-ldap")) as conn:  # the real readers
            assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"
        refusal = pytest.raises(Exception, connect, "mysqlclient", bridge, "carol", "carol-ldap")
        assert error_of(refusal.value)[0] == 1045  # the look-alike's member maps to nothing
    finally:
        bridge.stop()
