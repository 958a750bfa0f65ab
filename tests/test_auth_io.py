"""The one I/O path of an authentication exchange: a backend's questions, asked from its
worker thread (as PAM's conversation does through `dialog`), go through the same exchange
as a wire method's packets, and the exchange frames the first one as the switch."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bridge.auth_io import AuthExchange, PacketIO
from bridge.credentials import ClearPassword, Credential
from bridge.netio import Conn
from bridge.protocol.framing import frame, take_packet
from bridge.protocol.packets import parse_auth_switch_request
from bridge.wire.base import RECEIVE, Send, WireRun

log = logging.getLogger("bridge.session")


@dataclass
class Pair:
    io: PacketIO
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    buf: bytearray

    async def read(self, seq: int) -> bytes:
        while (packet := take_packet(self.buf, 1 << 16)) is None:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        assert packet.seq == seq
        return packet.payload


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    _, conn = await loop.connect_accepted_socket(lambda: Conn(loop), sock=theirs)
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    io = PacketIO(conn, 1 << 16)
    io.seq = 2  # after the greeting and the client's HandshakeResponse41
    yield Pair(io, reader, writer, bytearray())
    writer.close()
    conn.close()


async def test_thread_questions_ride_the_switch_then_auth_more_data(pair: Pair) -> None:
    questions: list[None] = []
    exchange = AuthExchange(pair.io, log, "dialog", lambda: questions.append(None))

    def conversation() -> list[bytes]:  # as PAM's, in a worker thread
        return [exchange.ask_from_thread(b"\x02Login: ", 5),
                exchange.ask_from_thread(b"\x05Password: ", 5)]  # fmt: skip

    answers = asyncio.get_running_loop().run_in_executor(None, conversation)
    switch = parse_auth_switch_request(await pair.read(2))
    assert (switch.plugin, switch.data) == ("dialog", b"\x02Login: ")
    pair.writer.write(frame(b"alice", 3))
    assert await pair.read(4) == b"\x01\x05Password: "  # AuthMoreData
    pair.writer.write(frame(b"secret\0", 5))
    assert await answers == [b"alice", b"secret\0"]
    assert len(questions) == 2  # each question may extend the deadline


async def test_a_wire_method_without_a_switch_sends_auth_more_data(pair: Pair) -> None:
    def method() -> WireRun:
        yield Send(b"\x04")
        reply = yield RECEIVE
        credential: Credential = ClearPassword(reply)
        return credential

    exchange = AuthExchange(pair.io, log)
    credential = asyncio.ensure_future(exchange.drive(method()))
    assert await pair.read(2) == b"\x01\x04"
    pair.writer.write(frame(b"pw", 3))
    assert await credential == ClearPassword(b"pw")


async def test_a_hang_up_on_the_switch_is_said_to_be_a_client_limit(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    exchange = AuthExchange(pair.io, log, "dialog")
    answer = asyncio.get_running_loop().run_in_executor(
        None, exchange.ask_from_thread, b"\x04Password: ", 5
    )
    assert parse_auth_switch_request(await pair.read(2)).plugin == "dialog"
    with caplog.at_level(logging.INFO):
        pair.writer.close()
        with pytest.raises(ConnectionError):
            await answer
    assert "client hung up on the switch to dialog" in caplog.text
