"""A name the search does not find once gets the bind a wrong password gets (a decoy DN), on
a real slapd that logs every operation; and the wait that makes the decoy last as long."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from bridge.backends.ldap import NotOneEntry
from bridge.backends.ldapdecoy import DECOY_PREFIX, BindTimes, decoy_dn
from bridge.errors import Denied
from sandbox.certs import CertSet
from sandbox.ldap import ADMIN_DN, BASE, PEOPLE, SERVICE_DN, Slapd, ssha
from sandbox.ports import wait_until
from tests.backends.test_ldap_backend import backend, verify
from tests.ldapfix import start_slapd

TWIN = f"uid=dave,ou=services,{BASE}"  # a second entry with uid=dave: the search finds two
BIND = re.compile(r'conn=(\d+) op=(\d+) BIND dn="([^"]*)"')
RESULT = re.compile(r"conn=(\d+) op=(\d+) RESULT tag=97 err=(\d+)")


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("watched"), certs, debug="stats")
    admin = ldap3.Connection(server.url, ADMIN_DN, "admin-secret", auto_bind=True)
    assert admin.add(TWIN, ["inetOrgPerson"], {"uid": "dave", "cn": "dave", "sn": "dave",
                                               "userPassword": ssha("twin-pw")})  # fmt: skip
    admin.unbind()
    yield server
    server.stop()


def user_binds(slapd: Slapd, since: int, count: int) -> list[tuple[str, int]]:
    """The binds slapd logged after `since` bytes, other than the service account's, with
    their result codes: waits until `count` of them have their result."""

    def found() -> list[tuple[str, int]]:
        text = slapd.operations()[since:]
        results = {(c, o): int(e) for c, o, e in RESULT.findall(text)}
        binds = [(dn, results.get((c, o), -1)) for c, o, dn in BIND.findall(text)]
        return [b for b in binds if b[0] != SERVICE_DN]

    wait_until(lambda: len([b for b in found() if b[1] >= 0]) >= count, 5, "slapd's log")
    return found()


def log_size(slapd: Slapd) -> int:
    return len(slapd.operations())


@pytest.mark.parametrize(("name", "entries"), [("nosuch", 0), ("dave", 2)])
async def test_a_name_not_found_once_gets_a_decoy_bind(
    tmp_path: Path, certs: CertSet, watched: Slapd, name: str, entries: int
) -> None:
    b = backend(tmp_path, certs, watched.tls_url)
    since = log_size(watched)
    with pytest.raises(NotOneEntry, match=rf"found {entries} entries \(decoy bind made\)"):
        await verify(b, name, "a-guess")
    binds = user_binds(watched, since, 1)
    assert len(binds) == 1, binds
    dn, err = binds[0]
    assert dn.startswith(f"cn={DECOY_PREFIX}") and dn.endswith(f",{BASE}")
    assert err == 49  # invalidCredentials, as for a wrong password
    # a decoy DN is new each time, and no entry has it
    admin = ldap3.Connection(watched.url, ADMIN_DN, "admin-secret", auto_bind=True)
    assert not admin.search(BASE, f"(cn={DECOY_PREFIX}*)")
    admin.unbind()


async def test_a_wrong_password_binds_as_the_entry_and_no_decoy(
    tmp_path: Path, certs: CertSet, watched: Slapd
) -> None:
    b = backend(tmp_path, certs, watched.tls_url)
    since = log_size(watched)
    with pytest.raises(Denied, match="invalidCredentials") as refused:
        await verify(b, "alice", "a-guess")
    assert not isinstance(refused.value, NotOneEntry)
    assert user_binds(watched, since, 1) == [(f"uid=alice,{PEOPLE}", 49)]
    assert len(b.servers[0].times.refused) == 1  # what a decoy waits for is measured


@pytest.mark.parametrize("mode", [f"+{PEOPLE}", f"uid=nosuch,{PEOPLE}"])
async def test_rows_without_a_search_bind_as_the_dn_itself(
    tmp_path: Path, certs: CertSet, watched: Slapd, mode: str
) -> None:
    """A `+suffix` or full-DN row binds as the DN it builds: for a name with no entry the
    directory refuses that bind as it refuses a wrong password. No decoy is needed, and
    the refusal is not taken for a real entry's (whose time decoys wait for)."""
    b = backend(tmp_path, certs, watched.tls_url)
    since = log_size(watched)
    with pytest.raises(Denied, match="invalidCredentials"):
        await verify(b, "nosuch", "a-guess", mode)
    assert user_binds(watched, since, 1) == [(f"uid=nosuch,{PEOPLE}", 49)]
    assert not b.servers[0].times.refused


async def test_user_binds_send_at_once(tmp_path: Path, certs: CertSet, watched: Slapd) -> None:
    """TCP_NODELAY: the bind after the TLS handshake is not held back by Nagle's algorithm
    (which made every user bind wait 40 ms for the server's delayed ACK)."""
    b = backend(tmp_path, certs, watched.url)  # StartTLS
    conn = b._connection(b.servers[0], f"uid=alice,{PEOPLE}", "alice-ldap")
    try:
        ok, _ = b._open_and_bind(conn)
        assert ok
        assert conn.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        conn.unbind()


def test_decoy_dns_are_random_and_escaped() -> None:
    first, second = decoy_dn("dc=example,dc=com"), decoy_dn("dc=example,dc=com")
    assert first != second
    assert re.fullmatch(rf"cn={DECOY_PREFIX}[0-9a-f]{{32}},dc=example,dc=com", first)


def test_a_decoy_waits_the_gap_between_the_medians() -> None:
    times = BindTimes()
    assert times.decoy_wait(0.002, limit=5) == 0.0  # no real refusal seen yet: nothing to match
    for took in (0.010, 0.012, 0.011):
        times.note_refused(took)
    assert times.decoy_wait(0.004, limit=5) == pytest.approx(0.011 - 0.003)  # decoys: 2, 4 ms
    assert times.decoy_wait(0.006, limit=5) == pytest.approx(0.011 - 0.004)  # 2, 4, 6 ms
    assert times.decoy_wait(0.002, limit=0.005) == 0.005  # never more than the limit
    slow = BindTimes()
    slow.note_refused(0.001)
    assert slow.decoy_wait(0.003, limit=5) == 0.0  # a decoy slower than a real bind: no wait


def test_the_windows_forget_old_binds() -> None:
    times = BindTimes()
    for _ in range(100):
        times.note_refused(1.0)
    for _ in range(64):
        times.note_refused(0.010)
    assert times.decoy_wait(0.002, limit=5) == pytest.approx(0.008)
