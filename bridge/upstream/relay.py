"""Copying bytes both ways once both legs are authenticated.

Server->client bytes pass untouched. Client->server bytes pass through a CommandScanner
that only looks at packet headers, to hand the commands the session handles itself
(COM_CHANGE_USER, KILL) to the session. A held query that may be a KILL is read whole only
up to 4 KiB; of a longer one only its start is read, and once that shows it is no KILL the
rest streams through as any other query does (a refused one is read and dropped as it
comes): memory stays bounded whatever the client sends. A COM_QUIT ends the relay without
being passed on, so the session can give the upstream connection back to the pool. Flow
control: when one side's writes back up, the other side's reading pauses.

A held command the bridge answers itself must wait for the answers to every command the
client sent before it, as mysqld answers in order: `settle()` (bridge/protocol/sync.py)
relays them first. Until something is forwarded after the login (or after the last
settle), there is nothing to wait for and it costs nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from functools import partial

from bridge.netio import Conn, ConnectionClosed
from bridge.protocol.constants import HEADER_SIZE, MAX_PAYLOAD, Command
from bridge.protocol.errors import PacketTooLarge, ProtocolError
from bridge.protocol.framing import Packet, PacketHead, drop_front, take_head, take_header
from bridge.protocol.kill import QUERY_HEAD
from bridge.protocol.packets import build_com_query
from bridge.protocol.scanner import CommandScanner
from bridge.protocol.sync import TOKEN_SIZE, SyncPoint, sync_query

CommandHandler = Callable[[Packet], Awaitable[None]]
# The start of a long held query, and how to drop the rest (it returns the last packet's
# sequence id): True when the query is to be passed on.
LongQueryHandler = Callable[[PacketHead, Callable[[], Awaitable[int]]], Awaitable[bool]]
# Held commands that are small by nature: their own size limit and deadline.
_BOUNDED = frozenset({int(Command.COM_CHANGE_USER), int(Command.COM_PROCESS_KILL)})


class OutOfStep(Exception):
    """The upstream's answers to the client's earlier commands could not be told apart
    from what comes after them: the session cannot go on."""


class Relay:
    __slots__ = (
        "_client_write",
        "_failure",
        "_held_kind",
        "_idle_mark",
        "_intercept",
        "_upstream_write",
        "client",
        "command_packet",
        "command_timeout",
        "max_packet",
        "on_command",
        "on_long_query",
        "quit",
        "reading_command",
        "scanner",
        "settle_timeout",
        "upstream",
        "upstream_caps",
    )  # fmt: skip

    def __init__(
        self, client: Conn, upstream: Conn, on_command: CommandHandler, max_packet: int,
        command_packet: int | None = None, command_timeout: float | None = None,
        upstream_caps: int = 0, settle_timeout: float = 10.0,
    ) -> None:  # fmt: skip
        """`max_packet` bounds a held query. A held COM_CHANGE_USER or COM_PROCESS_KILL is
        bounded by `command_packet` and must arrive whole within `command_timeout` of its
        first bytes (None: as a query, no deadline). `upstream_caps`: the upstream leg's
        capabilities; `settle_timeout`: the longest the upstream may go quiet in settle()."""
        self.client = client
        self.upstream = upstream
        self.upstream_caps = upstream_caps
        self.settle_timeout = settle_timeout
        self._idle_mark = upstream.bytes_out  # logged in: nothing under way upstream
        self.on_command = on_command
        self.max_packet = max_packet
        self.command_packet = command_packet or max_packet
        self.command_timeout = command_timeout
        self._held_kind = 0
        self.scanner = CommandScanner()
        self._intercept: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        # Given a long held query's start (None: every query is read whole).
        self.on_long_query: LongQueryHandler | None = None
        self.quit = False  # the client ended with COM_QUIT (nothing of its own in flight)
        self.reading_command = False  # a held command's packet is being read (not yet whole)

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

    def note_idle(self) -> None:
        """Nothing is under way upstream (the bridge's own exchange there just ended)."""
        self._idle_mark = self.upstream.bytes_out

    async def settle(self) -> None:
        """Return once the upstream has answered every command forwarded so far, its
        answers relayed to the client. OutOfStep when they cannot be told apart from the
        sync query's, or the upstream goes quiet for settle_timeout before it answers."""
        if self.upstream.bytes_out == self._idle_mark:
            return  # nothing forwarded since the upstream was last idle
        token = os.urandom(TOKEN_SIZE)
        sync = SyncPoint(token)
        done: asyncio.Future[None] = self.client.loop.create_future()

        def feed(data: bytes) -> None:
            if done.done():
                return
            try:
                relay, finished = sync.feed(data)
            except ProtocolError as exc:
                done.set_exception(OutOfStep(str(exc)))
                return
            if relay:
                self.client.write(relay)
            if finished:
                done.set_result(None)

        self.upstream.send_packet(build_com_query(sync_query(token), self.upstream_caps), 0)
        self.upstream.sink = feed
        try:
            if self.upstream.has_buffered():
                feed(self.upstream.take_buffered())
            await self._until_settled(done, sync)
        finally:
            self.upstream.sink = None
        self.note_idle()

    async def _until_settled(self, done: asyncio.Future[None], sync: SyncPoint) -> None:
        """Wait for `done`, as long as the upstream keeps sending or answers within
        settle_timeout of going quiet."""
        watched = {done, self.upstream.closed, self.client.closed}
        seen = -1
        while not done.done():
            if self.upstream.closed.done() or self.client.closed.done():
                raise ConnectionClosed("a leg closed before the upstream's answers were in")
            if sync.received == seen:
                raise OutOfStep(
                    f"the upstream sent nothing for {self.settle_timeout:g} s while the client's "
                    "earlier commands were still being answered"
                )
            seen = sync.received
            await asyncio.wait(watched, timeout=self.settle_timeout,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        done.result()

    async def _held_command(self) -> None:
        scanner = CommandScanner()
        try:
            self.reading_command = True
            if self._held_kind in _BOUNDED:
                async with asyncio.timeout(self.command_timeout):
                    packet = await self.client.read_packet(self.command_packet)
                self.reading_command = False
                await self.on_command(packet)  # a COM_CHANGE_USER has a deadline of its own
            else:
                scanner = await self._held_query()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the session decides; the relay ends
            self._failure = exc
            if not isinstance(exc, ProtocolError):  # else the session answers it first (1153)
                self.client.close()
            self.upstream.close()
            return
        self.scanner = scanner
        self._attach()

    async def _held_query(self) -> CommandScanner:
        """A held COM_QUERY: whole when short, else its start. The scanner to go on with:
        a long query passed on streams its rest through it."""
        limit = QUERY_HEAD if self.on_long_query is not None else self.max_packet
        take = partial(take_head, whole_up_to=limit, max_payload=self.max_packet)
        got: Packet | PacketHead = await self.client.read_with(take)
        if isinstance(got, Packet):
            self.reading_command = False
            await self.on_command(got)
            return CommandScanner()
        # a long query: its rest may still be read (and dropped) while it is judged
        assert self.on_long_query is not None
        passed_on = await self.on_long_query(got, partial(self._drop_rest, got))
        self.reading_command = False
        if not passed_on:
            return CommandScanner()  # refused: the rest was dropped, the answer sent
        self._upstream_write(got.raw)
        return CommandScanner.inside(got.remaining, got.continues)

    async def _drop_rest(self, head: PacketHead) -> int:
        """Read and drop what is left of a long query (its continuation packets too), as it
        comes; the last packet's sequence id. PacketTooLarge past `max_packet`."""
        remaining, continues, seq, total = head.remaining, head.continues, head.seq, head.length
        while True:
            while remaining:
                remaining -= await self.client.read_with(partial(drop_front, most=remaining))
            if not continues:
                return seq
            length, seq = await self.client.read_with(take_header)
            total += length
            if total > self.max_packet:
                raise PacketTooLarge(
                    f"packet of {total}+ bytes exceeds the limit of {self.max_packet}"
                )
            remaining, continues = length, length == MAX_PAYLOAD
