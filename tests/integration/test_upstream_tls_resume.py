"""Upstream TLS 1.3 sessions are resumed (bridge/upstream/tickets.py), against the real
MariaDB: the first upstream connection of a TLS context makes a full, verified handshake;
later ones resume its ticket; a new context (a reload) starts with a full handshake.
(MariaDB's Ssl_sessions_reused stays 0 for resumed TLS 1.3 sessions, so the bridge's side
of the connection says whether it was resumed.)"""

from __future__ import annotations

import asyncio
from contextlib import closing

import pytest

from bridge.config import UpstreamTlsConfig
from bridge.protocol.constants import Capability as C
from bridge.upstream.login import LoginRequest, UpstreamError, UpstreamTarget, login, tls_context
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from tests.integration.harness import MakeBridge, connect, scalar

CAPS = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH
REQUEST = LoginRequest("nat", b"up-nat", None, 45, int(CAPS), 1 << 24, (("_client_name", "t"),))
CIPHER = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'"


def target(mariadb: MariaDB, certs: CertSet, mode: str, ca: str | None = None) -> UpstreamTarget:
    tls = UpstreamTlsConfig(mode=mode, ca=ca or (certs.ca if mode.startswith("verify") else None))
    return UpstreamTarget(("127.0.0.1", mariadb.port), tls_context(tls), True, "127.0.0.1", 10)


def logins(upstream: UpstreamTarget, count: int) -> list[tuple[str | None, bool]]:
    """(TLS version, resumed) of `count` upstream logins one after another."""

    async def go() -> list[tuple[str | None, bool]]:
        found = []
        for _ in range(count):
            session = await login(upstream, REQUEST)
            found.append((session.conn.tls_version, session.conn.tls_resumed))
            session.conn.close()
        return found

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["preferred", "required", "verify_ca", "verify_identity"])
def test_later_logins_resume_the_tls_session_of_the_first(
    mariadb: MariaDB, certs: CertSet, mode: str
) -> None:
    upstream = target(mariadb, certs, mode)
    assert logins(upstream, 3) == [("TLSv1.3", False), ("TLSv1.3", True), ("TLSv1.3", True)]


def test_a_new_tls_context_starts_with_a_full_handshake(mariadb: MariaDB, certs: CertSet) -> None:
    first = target(mariadb, certs, "verify_identity")
    assert [resumed for _, resumed in logins(first, 2)] == [False, True]
    again = target(mariadb, certs, "verify_identity")  # what a reload makes
    assert [resumed for _, resumed in logins(again, 2)] == [False, True]


def test_a_ticket_does_not_get_past_a_changed_ca(
    mariadb: MariaDB, certs: CertSet, other_certs: CertSet
) -> None:
    """A context that would refuse the upstream's certificate refuses it, whatever
    sessions another context holds: tickets are bound to the context that verified."""
    logins(target(mariadb, certs, "verify_ca"), 2)
    with pytest.raises(UpstreamError, match="CERTIFICATE_VERIFY_FAILED"):
        logins(target(mariadb, certs, "verify_ca", ca=str(other_certs.ca)), 1)


def test_clients_through_the_bridge_get_resumed_upstream_sessions(
    make_bridge: MakeBridge, certs: CertSet
) -> None:
    """Real clients, the pool off (each client its own upstream connection), upstream
    TLS verify_identity; a reload starts afresh."""
    tls = {"mode": "verify_identity", "ca": str(certs.ca)}
    bridge = make_bridge(upstream={"tls": tls, "pool": {"enabled": False}})
    for client in ("pymysql", "mysqlclient", "connector", "pymysql"):
        with closing(connect(client, bridge, "nat", "nat-pw", "tls")) as conn:
            assert scalar(conn, CIPHER)
    # The start's health probe (a whole login) makes the full handshake; every client resumes.
    assert bridge.log.count("upstream TLS: full handshake") == 1
    assert bridge.log.count("upstream TLS session resumed") == 4
    assert bridge.reload()
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
        assert scalar(conn, CIPHER)
    assert bridge.log.count("upstream TLS: full handshake") == 2
