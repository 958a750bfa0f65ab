"""Referrals are never chased: a directory that answers "ask ldap://elsewhere" sends the
bridge nowhere (ldap3 would follow it by default, resolving and contacting that host with
the service account's credentials)."""

from __future__ import annotations

from pathlib import Path

import ldap3
import pytest

from bridge.backends.base import Peer
from bridge.backends.ldap import LdapBackend
from bridge.config import LdapConfig
from bridge.credentials import ClearPassword
from bridge.errors import Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import client_host
from sandbox.certs import CertSet
from sandbox.ldap import ADMIN_DN, BASE, Slapd
from tests.ldapfix import ldap_settings
from tests.sockwatch import SocketWatch

ELSEWHERE = f"ou=elsewhere,{BASE}"
REFERRAL = f"ldap://referral.invalid/{ELSEWHERE}"


@pytest.fixture(scope="module")
def referral(slapd: Slapd) -> Slapd:
    """This module's slapd, with a referral object under the base."""
    conn = ldap3.Connection(slapd.url, ADMIN_DN, "admin-secret", auto_bind=True)
    assert conn.add(
        ELSEWHERE, ["referral", "extensibleObject"], {"ou": "elsewhere", "ref": REFERRAL}
    )
    conn.unbind()
    return slapd


async def test_a_referral_answer_is_not_followed(
    tmp_path: Path, certs: CertSet, referral: Slapd
) -> None:
    server = referral
    plain = ldap3.Connection(server.url, ADMIN_DN, "admin-secret", auto_bind=True,
                             auto_referrals=False)  # fmt: skip
    plain.search(ELSEWHERE, "(uid=alice)")
    assert plain.result["result"] == 10 and plain.result["referrals"][0].startswith(REFERRAL)
    plain.unbind()
    config = LdapConfig.model_validate(
        ldap_settings(tmp_path, certs, server.tls_url, base_dn=ELSEWHERE)
    )
    row = AccountRow("", "%", "authentication_ldap_simple", b"", "test")
    watch = SocketWatch()
    watch.on = True
    try:
        with pytest.raises(Denied, match="found 0 entries"):
            await LdapBackend(config).verify(ClearPassword(b"alice-ldap"), "alice", row,
                                             Peer(client_host("10.0.0.9", False), "tls"))  # fmt: skip
    finally:
        watch.on = False
    assert watch.hosts and set(watch.hosts) == {"127.0.0.1"}, watch.hosts
