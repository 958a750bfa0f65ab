"""The client leg of a session in packet mode (sequence ids checked and kept), and the one
I/O path of an authentication exchange.

Everything the client is sent or asked while it authenticates goes through AuthExchange:
the AuthMoreData a wire method's generator yields, the replies it waits for, and the
questions a backend asks through the `dialog` plugin (PAM's conversation, which runs in a
worker thread and hands each question to the exchange on the event loop). The exchange
alone decides the framing: when the client has to switch methods, the first packet sent is
the AuthSwitchRequest, carrying that packet's data (the method's switch data, or PAM's first
question); every later one is AuthMoreData.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from bridge.credentials import Credential
from bridge.errors import BridgeError
from bridge.logfmt import Log
from bridge.netio import Conn, ConnectionClosed
from bridge.protocol.errors import PacketsOutOfOrder
from bridge.protocol.framing import Packet
from bridge.protocol.packets import (
    AuthSwitchRequest,
    build_auth_more_data,
    build_auth_switch_request,
    build_err,
)
from bridge.wire import Send, WireRun


class PacketIO:
    """Packets to and from the client, with the sequence ids of the exchange under way."""

    def __init__(self, conn: Conn, max_payload: int) -> None:
        self.conn = conn
        self.max_payload = max_payload  # the handshake's packet limit
        self.seq = 0
        # ERR packets carry '#' and the SQLSTATE: false once the client's handshake said
        # it does not speak the 4.1 protocol (set from each handshake packet it sends)
        self.protocol_41 = True
        # the character set of the errors' text (they may name the user): the client's,
        # once its HandshakeResponse named it, as mysqld converts its messages
        self.charset = "utf8mb4"

    async def read(self) -> Packet:
        packet = await self.conn.read_packet(self.max_payload)
        if packet.seq != self.seq:
            raise PacketsOutOfOrder(f"packet out of order: got {packet.seq}, expected {self.seq}")
        self.seq = (packet.last_seq + 1) & 0xFF
        return packet

    def send(self, payload: bytes) -> None:
        self.seq = self.conn.send_packet(payload, self.seq)

    def send_error(self, exc: BridgeError) -> None:
        self.send(build_err(exc.to_err(), self.protocol_41, self.charset))


class AuthExchange:
    """One authentication exchange with the client. `switch_to`: the method the client must
    switch to (its AuthSwitchRequest is the first packet sent), or None. `on_question`
    runs (on the event loop) before each question a backend asks: a person may be typing."""

    def __init__(
        self, io: PacketIO, log: Log, switch_to: str | None = None,
        on_question: Callable[[], None] = lambda: None,
    ) -> None:  # fmt: skip
        self.io = io
        self.log = log
        self.switch_to = switch_to  # still owed to the client
        self.on_question = on_question
        self.loop = io.conn.loop

    async def ask(self, data: bytes) -> bytes:
        """Send `data` (framed as the switch if one is owed) and return the client's answer."""
        switched = self._send(data)
        try:
            return await self._receive()
        except ConnectionClosed:
            if switched is not None:
                self.log.info(
                    "client hung up on the switch to %s: it cannot speak that method, or "
                    "has nothing to answer with, e.g. no Kerberos ticket (a client limit, "
                    "not an outage)", switched,
                )  # fmt: skip
            raise

    async def drive(self, run: WireRun) -> Credential:
        """Run a wire method's generator to the Credential it returns."""
        try:
            step = next(run)
            while True:
                if isinstance(step, Send):
                    self._send(step.data)
                    step = next(run)
                else:
                    step = run.send(await self._receive())
        except StopIteration as done:
            return cast(Credential, done.value)

    def ask_from_thread(self, question: bytes, timeout: float) -> bytes:
        """A backend's question from its worker thread: asked on the event loop through
        `ask`, the thread waiting at most `timeout` for the answer."""
        future = asyncio.run_coroutine_threadsafe(self._question(question), self.loop)
        return future.result(timeout)

    async def _question(self, question: bytes) -> bytes:
        self.on_question()
        return await self.ask(question)

    def _send(self, data: bytes) -> str | None:
        """Send one packet; returns the method switched to when this was the switch."""
        switched, self.switch_to = self.switch_to, None
        if switched is not None:
            self.io.send(build_auth_switch_request(AuthSwitchRequest(switched, data)))
        else:
            self.io.send(build_auth_more_data(data))
        return switched

    async def _receive(self) -> bytes:
        return (await self.io.read()).payload
