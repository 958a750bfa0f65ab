"""A Session driven in process: one end of a socketpair is the bridge's client leg, the
other is a test client speaking raw packets; the upstream is the real MariaDB. No bridge
subprocess, no BridgeServer: the session gets only a SessionContext made here."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bridge.audit import AuditLog
from bridge.metrics import Metrics
from bridge.netio import Conn
from bridge.protocol.constants import Capability as C
from bridge.protocol.constants import Command
from bridge.protocol.framing import frame, take_packet
from bridge.protocol.packets import (
    HandshakeResponse41,
    HandshakeV10,
    build_handshake_response41,
    parse_auth_switch_request,
    parse_err,
    parse_handshake_v10,
)
from bridge.registry import Entry, LocalRegistry, SessionRegistry
from bridge.runtime import Runtime, build_runtime
from bridge.scramble import native_token
from bridge.server import FALLBACK_PROFILE
from bridge.session import Session
from bridge.state.throttle import MemoryThrottle
from bridge.upstream.pool import UpstreamPool
from sandbox.bridgeproc import write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from tests.integration.harness import ACCOUNTS
from tests.integration.rawclient import CLIENT_CAPS


@dataclass
class Services:
    """A SessionContext of the test's own: the session needs no more than this."""

    runtime: Runtime
    audit: AuditLog
    profile: HandshakeV10 = FALLBACK_PROFILE
    metrics: Metrics = field(default_factory=Metrics)
    registry: SessionRegistry = field(default_factory=LocalRegistry)
    throttle: MemoryThrottle = field(init=False)
    pool: UpstreamPool = field(init=False)
    slots: list[tuple[str, str | None, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.throttle = MemoryThrottle(self.runtime.config.protection)
        upstream = self.runtime.config.upstream
        self.pool = UpstreamPool(upstream.pool, upstream.connect_timeout)

    async def remote_session(self, bridge_id: int) -> Entry | None:
        return None  # one process: no other instance's sessions

    def client_capabilities(self, tls: bool) -> int:
        return self.profile.capabilities | (C.CLIENT_SSL if tls else 0)

    def learn_profile(self, greeting: HandshakeV10) -> None:
        self.profile = greeting

    def promote_slot(self, source: str | None) -> None:
        self.slots.append(("promote", source, True))

    def release_slot(self, source: str | None, authenticated: bool) -> None:
        self.slots.append(("release", source, authenticated))


class Client:
    """The test's end of the socketpair: whole packets, their sequence ids checked."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buf = bytearray()

    async def read(self, seq: int) -> bytes:
        while (packet := take_packet(self.buf, 1 << 24)) is None:
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            if not data:
                raise ConnectionError("the session closed the connection")
            self.buf += data
        assert packet.seq == seq, (packet.seq, seq)
        return packet.payload

    def send(self, payload: bytes, seq: int) -> None:
        self.writer.write(frame(payload, seq))

    async def at_eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 10) == b""

    def hello(self, user: str, auth: bytes, plugin: str) -> None:
        hello = HandshakeResponse41(CLIENT_CAPS, 1 << 24, 45, user, auth, None, plugin)
        self.send(build_handshake_response41(hello), 1)


@pytest.fixture
def runtime(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> Iterator[Runtime]:
    path = write_config(tmp_path, free_port(), mariadb.port, certs, ACCOUNTS,
                        audit_log=str(tmp_path / "audit.jsonl"))  # fmt: skip
    yield build_runtime(path)


@pytest.fixture
async def services(runtime: Runtime) -> AsyncIterator[Services]:
    audit = AuditLog(runtime.config.audit_log)
    services = Services(runtime, audit)
    yield services
    await services.pool.close()
    audit.close()


async def open_session(services: Services, conn_id: int) -> tuple[Client, asyncio.Task[None]]:
    """A session on one end of a socketpair (its Unix-socket leg), the client on the other."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    _, conn = await loop.connect_accepted_socket(lambda: Conn(loop), sock=theirs)
    session = Session(services, conn, "socket", conn_id)
    task = loop.create_task(session.run())
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    return Client(reader, writer), task


def audit_records(runtime: Runtime) -> list[dict[str, object]]:
    text = Path(str(runtime.config.audit_log)).read_text()
    return [json.loads(line) for line in text.splitlines()]


async def test_native_login_query_and_quit(services: Services) -> None:
    client, task = await open_session(services, 7)
    greeting = parse_handshake_v10(await client.read(0))
    assert greeting.connection_id == 7
    client.hello("nat", native_token(b"nat-pw", greeting.scramble[:20]), "mysql_native_password")
    assert (await client.read(2))[0] == 0x00  # the upstream's OK, for the account 'nat'

    client.send(bytes([Command.COM_QUERY]) + b"SELECT CURRENT_USER()", 0)
    assert await client.read(1) == b"\x01"  # one column
    await client.read(2)  # its definition
    assert (await client.read(3))[0] == 0xFE  # EOF: the client did not deprecate it
    assert await client.read(4) == b"\x05nat@%"  # the row: the upstream account
    assert (await client.read(5))[0] == 0xFE

    client.send(bytes([Command.COM_QUIT]), 0)
    assert await client.at_eof()
    await asyncio.wait_for(task, 10)
    assert services.slots == [("promote", None, True), ("release", None, True)]
    services.audit.close()
    (record,) = audit_records(services.runtime)
    assert (record["event"], record["result"], record["user"]) == ("login", "ok", "nat")
    assert (record["transport"], record["wire_method"], record["proxied_account"]) == (
        "socket", "mysql_native_password", "'nat'@'%'"
    )  # fmt: skip


async def test_wrong_password_is_1045_and_nothing_upstream(services: Services) -> None:
    client, task = await open_session(services, 8)
    greeting = parse_handshake_v10(await client.read(0))
    client.hello("nat", native_token(b"wrong", greeting.scramble[:20]), "mysql_native_password")
    err = parse_err(await client.read(2))
    assert (err.errno, err.sqlstate) == (1045, "28000")
    assert err.message == "Access denied for user 'nat'@'localhost' (using password: YES)"
    assert await client.at_eof()
    await asyncio.wait_for(task, 10)
    assert services.slots == [("release", None, False)]  # never promoted
    assert services.profile is FALLBACK_PROFILE  # no upstream greeting was ever seen
    assert services.pool.idle == 0
    services.audit.close()
    (record,) = audit_records(services.runtime)
    assert (record["result"], record["row"]) == ("denied", "'nat'@'%'")


async def test_a_switch_is_the_first_packet_of_the_exchange(services: Services) -> None:
    """The client opens with caching_sha2_password; the native row switches it (its nonce,
    NUL-terminated, in the AuthSwitchRequest), and the answer to the switch logs it in."""
    client, task = await open_session(services, 9)
    greeting = parse_handshake_v10(await client.read(0))
    client.hello("nat", b"\x01" * 32, "caching_sha2_password")
    switch = parse_auth_switch_request(await client.read(2))
    assert switch.plugin == "mysql_native_password"
    assert switch.data == greeting.scramble[:20] + b"\0"
    client.send(native_token(b"nat-pw", switch.data[:20]), 3)
    assert (await client.read(4))[0] == 0x00
    client.send(bytes([Command.COM_QUIT]), 0)
    await asyncio.wait_for(task, 10)


async def quick_login_and_quit(services: Services, conn_id: int) -> None:
    client, task = await open_session(services, conn_id)
    greeting = parse_handshake_v10(await client.read(0))
    client.hello("nat", native_token(b"nat-pw", greeting.scramble[:20]), "mysql_native_password")
    assert (await client.read(2))[0] == 0x00
    client.send(bytes([Command.COM_QUIT]), 0)
    assert await client.at_eof()
    await asyncio.wait_for(task, 10)


async def test_a_pooled_connection_keeps_nothing_of_the_sessions_that_used_it(
    services: Services,
) -> None:
    """Each session's relay hooks onto the upstream connection's end; a connection that
    serves session after session must not collect them (memory, and time on every hook)."""
    for n in range(5):
        await quick_login_and_quit(services, 20 + n)
        for _ in range(100):  # the pool's check of the returned connection
            if services.pool.idle:
                break
            await asyncio.sleep(0.01)
        assert services.pool.idle == 1
    ((entry,),) = [list(idle) for idle in services.pool._idle.values()]
    assert services.pool.reused == 4
    assert not entry.session.conn.closed._callbacks
