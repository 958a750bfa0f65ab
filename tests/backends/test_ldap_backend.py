"""The LDAP backend against a real slapd: bind, groups, TLS, injection, failover."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bridge.backends.base import Identity, Peer
from bridge.backends.ldap import LdapBackend
from bridge.config import LdapConfig
from bridge.credentials import ClearPassword
from bridge.errors import BackendUnavailable, Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import client_host
from sandbox.certs import CertSet
from sandbox.ldap import Slapd
from tests.ldapfix import PEOPLE, ldap_settings, start_slapd

PEER = Peer(client_host("10.0.0.9", True), "tls")


def backend(tmp_path: Path, certs: CertSet, *servers: str, **extra: object) -> LdapBackend:
    return LdapBackend(LdapConfig.model_validate(ldap_settings(tmp_path, certs, *servers, **extra)))


def row(auth: str = "") -> AccountRow:
    return AccountRow("", "%", "authentication_ldap_simple", auth.encode(), "test")


async def verify(b: LdapBackend, user: str, password: str, auth: str = "") -> Identity:
    return await b.verify(ClearPassword(password.encode()), user, row(auth), PEER)


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
async def test_search_bind_and_groups(
    tmp_path: Path, certs: CertSet, slapd: Slapd, mode: str
) -> None:
    b = backend(tmp_path, certs, slapd.url if mode == "starttls" else slapd.tls_url)
    alice = await verify(b, "alice", "alice-ldap")
    assert (alice.name, alice.groups, alice.source) == (
        "alice",
        ("dbadmins",),
        "ldap",
    )  # posixGroup
    bob = await verify(b, "bob", "bob-ldap")
    assert bob.groups == ("readers",)  # groupOfNames
    assert set((await verify(b, "dave", "dave-ldap")).groups) == {"dbadmins", "readers"}


async def test_suffix_and_full_dn_modes(tmp_path: Path, certs: CertSet, slapd: Slapd) -> None:
    b = backend(tmp_path, certs, slapd.tls_url)
    assert (await verify(b, "alice", "alice-ldap", f"+{PEOPLE}#dbadmins=developer")).name == "alice"
    assert (await verify(b, "bob", "bob-ldap", f"uid=bob,{PEOPLE}")).groups == ("readers",)
    with pytest.raises(Denied):  # the row's DN is bob's: alice's password does not open it
        await verify(b, "bob", "alice-ldap", f"uid=bob,{PEOPLE}")


async def test_wrong_password_and_unknown_user(
    tmp_path: Path, certs: CertSet, slapd: Slapd
) -> None:
    b = backend(tmp_path, certs, slapd.tls_url)
    for user, password in (("alice", "nope"), ("nosuchuser", "x")):
        with pytest.raises(Denied):
            await verify(b, user, password)


async def test_empty_password_never_binds(tmp_path: Path, certs: CertSet) -> None:
    # slapd itself accepts a DN with an empty password: an unauthenticated bind (RFC 4513).
    slapd = start_slapd(tmp_path / "watched", certs, debug="stats")  # logs every operation
    try:
        done = subprocess.run(["ldapwhoami", "-x", "-H", slapd.url, "-D", f"uid=alice,{PEOPLE}", "-w", ""],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0 and "anonymous" in done.stdout
        b = backend(tmp_path, certs, slapd.tls_url)
        await verify(b, "bob", "bob-ldap")  # the service connection is open, then:
        before = slapd.operations().count(" op=")
        for mode in ("", f"+{PEOPLE}", f"uid=alice,{PEOPLE}"):
            with pytest.raises(Denied, match="empty password"):
                await verify(b, "alice", "", mode)
        await asyncio.sleep(0.2)  # slapd writes its log from its own threads
        assert slapd.operations().count(" op=") == before  # not a single operation
    finally:
        slapd.stop()


@pytest.mark.parametrize("name", ["*", "a*", "*)(uid=*", "admin)(uid=*", "*)(|(uid=*", "x)(memberUid=*",
                                  "a,ou=admins", f"cn=admin,{PEOPLE}", "#admin", "a\\2a"])  # fmt: skip
async def test_injection_names_do_not_widen(
    tmp_path: Path, certs: CertSet, slapd: Slapd, name: str
) -> None:
    b = backend(tmp_path, certs, slapd.tls_url)
    for mode in ("", f"+{PEOPLE}"):
        for password in ("alice-ldap", "admin-ldap", "x"):
            with pytest.raises(Denied):
                await verify(b, name, password, mode)


@pytest.mark.parametrize("name", ["a\x00b", "x" * 300, "tab\there", "", " alice", "alice "])
async def test_refused_names(tmp_path: Path, certs: CertSet, slapd: Slapd, name: str) -> None:
    with pytest.raises(Denied, match="user name refused"):
        await verify(backend(tmp_path, certs, slapd.tls_url), name, "alice-ldap")


async def test_memberof(tmp_path: Path, certs: CertSet, slapd: Slapd) -> None:
    b = backend(tmp_path, certs, slapd.tls_url, groups_from="memberof")
    assert (await verify(b, "bob", "bob-ldap")).groups == ("readers",)


async def test_plaintext_needs_saying_so(tmp_path: Path, certs: CertSet) -> None:
    with pytest.raises(ValueError, match="allow_plaintext"):
        LdapConfig.model_validate(
            ldap_settings(tmp_path, certs, "ldap://127.0.0.1:1", start_tls=False)
        )


async def test_untrusted_certificate_is_an_outage(
    tmp_path: Path, slapd: Slapd, other_certs: CertSet
) -> None:
    with pytest.raises(BackendUnavailable):
        await verify(backend(tmp_path, other_certs, slapd.tls_url), "alice", "alice-ldap")


async def test_failover_to_the_second_server(tmp_path: Path, certs: CertSet, slapd: Slapd) -> None:
    from sandbox.ports import free_port

    b = backend(tmp_path, certs, f"ldaps://127.0.0.1:{free_port()}", slapd.tls_url)
    assert (await verify(b, "alice", "alice-ldap")).groups == ("dbadmins",)
    assert b.outages >= 1


async def test_a_hung_server_times_out_to_the_next(
    tmp_path: Path, certs: CertSet, slapd: Slapd
) -> None:
    hung = start_slapd(tmp_path / "hung", certs)
    hung.proc.send_signal(signal.SIGSTOP)
    try:
        b = backend(tmp_path, certs, hung.tls_url, slapd.tls_url)
        assert (await verify(b, "bob", "bob-ldap")).groups == ("readers",)
    finally:
        hung.proc.send_signal(signal.SIGCONT)
        hung.stop()


async def test_all_down_is_an_outage_not_a_denial(tmp_path: Path, certs: CertSet) -> None:
    from sandbox.ports import free_port

    b = backend(
        tmp_path, certs, f"ldaps://127.0.0.1:{free_port()}", f"ldap://127.0.0.1:{free_port()}"
    )
    with pytest.raises(BackendUnavailable):
        await verify(b, "alice", "alice-ldap")


async def test_plain_ldap_when_the_config_says_so(
    tmp_path: Path, certs: CertSet, slapd: Slapd
) -> None:
    b = backend(tmp_path, certs, slapd.url, start_tls=False, allow_plaintext=True)
    assert (await verify(b, "alice", "alice-ldap")).groups == ("dbadmins",)


async def test_nested_groups_by_walk(tmp_path: Path, certs: CertSet, slapd: Slapd) -> None:
    import ldap3

    from sandbox.ldap import ADMIN_DN, GROUPS

    admin = ldap3.Connection(slapd.url, ADMIN_DN, "admin-secret", auto_bind=True)
    admin.add(
        f"cn=staff,{GROUPS}", ["groupOfNames"], {"cn": "staff", "member": [f"cn=readers,{GROUPS}"]}
    )
    admin.add(
        f"cn=everyone,{GROUPS}",
        ["groupOfNames"],
        {"cn": "everyone", "member": [f"cn=staff,{GROUPS}"]},
    )
    admin.unbind()
    flat = backend(tmp_path, certs, slapd.tls_url)
    assert (await verify(flat, "bob", "bob-ldap")).groups == ("readers",)
    walk = backend(tmp_path, certs, slapd.tls_url, nested_groups="walk")
    assert (await verify(walk, "bob", "bob-ldap")).groups == ("readers", "staff", "everyone")
    shallow = backend(tmp_path, certs, slapd.tls_url, nested_groups="walk", nested_depth=1)
    assert (await verify(shallow, "bob", "bob-ldap")).groups == ("readers", "staff")


async def test_group_cache_and_connection_pool(
    tmp_path: Path, certs: CertSet, slapd: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = backend(tmp_path, certs, slapd.tls_url, group_cache_ttl=60, pool_size=2)
    searches = 0
    original = b._search

    def counting(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        nonlocal searches
        searches += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(b, "_search", counting)
    for _ in range(5):
        assert (await verify(b, "alice", "alice-ldap")).groups == ("dbadmins",)
    assert searches == 5 + 1  # a DN search each time, the group search once (cached)
    assert b._idle.qsize() <= 2  # the bound service connections are kept and reused
    with pytest.raises(Denied):  # the cache never skips the password check
        await verify(b, "alice", "wrong")
