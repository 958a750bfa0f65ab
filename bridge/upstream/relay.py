"""Copying bytes both ways once both legs are authenticated.

Server->client bytes pass untouched. Client->server bytes pass through a CommandScanner
that only looks at packet headers, to hand the commands the session handles itself
(COM_CHANGE_USER, KILL) to the session; a COM_QUIT ends the relay without being passed on,
so the session can give the upstream connection back to the pool. Flow control:
when one side's writes back up, the other side's reading pauses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bridge.netio import Conn
from bridge.protocol.constants import HEADER_SIZE, Command
from bridge.protocol.framing import Packet
from bridge.protocol.scanner import CommandScanner

CommandHandler = Callable[[Packet], Awaitable[None]]
# Held commands that are small by nature: their own size limit and deadline.
_BOUNDED = frozenset({int(Command.COM_CHANGE_USER), int(Command.COM_PROCESS_KILL)})


class Relay:
    __slots__ = (
        "_client_write",
        "_failure",
        "_held_kind",
        "_intercept",
        "_upstream_write",
        "client",
        "command_packet",
        "command_timeout",
        "max_packet",
        "on_command",
        "quit",
        "scanner",
        "upstream",
    )  # fmt: skip

    def __init__(
        self, client: Conn, upstream: Conn, on_command: CommandHandler, max_packet: int,
        command_packet: int | None = None, command_timeout: float | None = None,
    ) -> None:  # fmt: skip
        """`max_packet` bounds a held query. A held COM_CHANGE_USER or COM_PROCESS_KILL is
        bounded by `command_packet` and must arrive whole within `command_timeout` of its
        first bytes (None: as a query, no deadline)."""
        self.client = client
        self.upstream = upstream
        self.on_command = on_command
        self.max_packet = max_packet
        self.command_packet = command_packet or max_packet
        self.command_timeout = command_timeout
        self._held_kind = 0
        self.scanner = CommandScanner()
        self._intercept: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self.quit = False  # the client ended with COM_QUIT (nothing of its own in flight)

    async def run(self) -> None:
        self.client.on_pause = self.upstream.pause_reading
        self.upstream.on_pause = self.client.pause_reading
        self._attach()
        ended: asyncio.Future[None] = self.client.loop.create_future()

        def end(_: object) -> None:
            if not ended.done():
                ended.set_result(None)

        self.client.closed.add_done_callback(end)
        self.upstream.closed.add_done_callback(end)
        try:
            await ended
        finally:  # a pooled upstream connection outlives the relay: nothing of it may stay
            self.client.closed.remove_done_callback(end)
            self.upstream.closed.remove_done_callback(end)
        if self._intercept is not None and not self._intercept.done():
            self._intercept.cancel()
        if self._failure is not None:
            raise self._failure

    def _attach(self) -> None:
        self._client_write = self.client.write
        self._upstream_write = self.upstream.write
        self.upstream.sink = self._from_upstream
        self.client.sink = self._from_client
        for conn in (self.upstream, self.client):
            if conn.has_buffered() and conn.sink is not None:
                conn.sink(conn.take_buffered())

    def _from_upstream(self, data: bytes) -> None:
        self.scanner.server_spoke()
        self._client_write(data)

    def _from_client(self, data: bytes) -> None:
        forward, held = self.scanner.feed(data)
        if forward:
            self._upstream_write(forward)
        if held is not None:
            self.client.sink = None
            self.upstream.sink = None
            if held[HEADER_SIZE] == Command.COM_QUIT:
                self._quit()
                return
            self.client.unread(held)
            self._held_kind = held[HEADER_SIZE]
            self._intercept = asyncio.create_task(self._held_command())

    def _quit(self) -> None:
        """COM_QUIT, at a command boundary: the client is done. It is not passed on, so the
        session can decide what becomes of the upstream connection (pool or close)."""
        self.quit = True
        self.upstream.on_pause = self.client.on_pause = None
        self.upstream.pause_reading(False)
        self.client.close()

    async def _held_command(self) -> None:
        try:
            if self._held_kind in _BOUNDED:
                async with asyncio.timeout(self.command_timeout):
                    packet = await self.client.read_packet(self.command_packet)
            else:
                packet = await self.client.read_packet(self.max_packet)
            await self.on_command(packet)  # a COM_CHANGE_USER has a deadline of its own
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the session decides; the relay ends
            self._failure = exc
            self.client.close()
            self.upstream.close()
            return
        self.scanner = CommandScanner()
        self._attach()
