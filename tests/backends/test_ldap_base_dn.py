"""LDAP without base_dn: the base comes from the directory's rootDSE, never the empty base.

Against a real slapd: one naming context is used; several (and no AD-style
defaultNamingContext) is a configuration error that says to set base_dn.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.backends.base import Peer
from bridge.backends.ldap import LdapBackend, NoNamingContext, naming_context
from bridge.config import LdapConfig
from bridge.credentials import ClearPassword
from bridge.errors import Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import client_host
from sandbox.certs import CertSet
from sandbox.ldap import BASE, Slapd
from tests.ldapfix import ldap_settings, start_slapd

PEER = Peer(client_host("10.0.0.9", True), "tls")
ROW = AccountRow("", "%", "authentication_ldap_simple", b"", "test")
OTHER = ("dc=other,dc=test", "o=archive")


@pytest.fixture(scope="module")
def slapd_three(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd-three"), certs, OTHER)
    yield server
    server.stop()


def backend(tmp_path: Path, certs: CertSet, server: Slapd, base_dn: str = "") -> LdapBackend:
    settings = ldap_settings(tmp_path, certs, server.tls_url, base_dn=base_dn)
    return LdapBackend(LdapConfig.model_validate(settings))


async def test_without_base_dn_the_rootdse_naming_context_is_searched(
    tmp_path: Path, certs: CertSet, slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bridge.backends.ldap")
    b = backend(tmp_path, certs, slapd)
    alice = await b.verify(ClearPassword(b"alice-ldap"), "alice", ROW, PEER)
    assert alice.groups == ("dbadmins",)  # found by a search under dc=example,dc=com
    bob = await b.verify(ClearPassword(b"bob-ldap"), "bob", ROW, PEER)
    assert bob.groups == ("readers",)
    assert await b.lookup("dave", ROW) == ("dbadmins", "readers")  # explain / Kerberos path
    assert f"searching under '{BASE}' (from the rootDSE)" in caplog.text
    assert caplog.text.count("from the rootDSE") == 1  # read once, then kept
    await b.check()


async def test_several_naming_contexts_refuse_with_a_clear_error(
    tmp_path: Path, certs: CertSet, slapd_three: Slapd
) -> None:
    b = backend(tmp_path, certs, slapd_three)
    with pytest.raises(Denied, match=r"names 3 naming contexts .*: set ldap\.base_dn") as err:
        await b.verify(ClearPassword(b"alice-ldap"), "alice", ROW, PEER)
    assert BASE in str(err.value) and "o=archive" in str(err.value)
    with pytest.raises(Denied, match=r"set ldap\.base_dn"):
        await b.check()  # the health check says so too
    pinned = backend(tmp_path, certs, slapd_three, base_dn=BASE)
    alice = await pinned.verify(ClearPassword(b"alice-ldap"), "alice", ROW, PEER)
    assert alice.groups == ("dbadmins",)


def test_active_directory_names_its_default_naming_context() -> None:
    # What Samba AD's rootDSE returns for AD.TEST (five naming contexts).
    root = {"attributes": {
        "defaultNamingContext": ["DC=ad,DC=test"],
        "namingContexts": ["DC=ad,DC=test", "CN=Configuration,DC=ad,DC=test",
                           "CN=Schema,CN=Configuration,DC=ad,DC=test",
                           "DC=DomainDnsZones,DC=ad,DC=test", "DC=ForestDnsZones,DC=ad,DC=test"],
    }}  # fmt: skip
    assert naming_context(root) == "DC=ad,DC=test"


@pytest.mark.parametrize(
    "root",
    [{}, {"attributes": {}}, {"attributes": {"namingContexts": [""]}},
     {"attributes": {"namingContexts": ["dc=a", "dc=b"], "defaultNamingContext": [""]}}],
)  # fmt: skip
def test_no_usable_naming_context_is_never_the_empty_base(root: dict[str, Any]) -> None:
    with pytest.raises(NoNamingContext, match=r"set ldap\.base_dn"):
        naming_context(root)
