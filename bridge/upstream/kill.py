"""KILL through the bridge, as ProxySQL and MaxScale do it: a client names connections by
the ids in the bridge's greetings; the statement runs on the issuing client's own upstream
connection with the target session's upstream thread id, so the upstream applies the
issuing account's privileges. An id the bridge does not know gets ERROR 1094 and reaches
no upstream; a KILL it cannot translate gets ERROR 1235.

The upstream cannot tell two external users mapped to one account apart, so the bridge
decides that part as mysqld does with USER(): a session of another external user may be
killed only by an account that may kill other users' threads (asked upstream at each such
KILL, since SET ROLE may change the answer within a session: bridge/upstream/privileges.py);
otherwise ERROR 1095 and nothing reaches the upstream."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bridge.errors import BridgeError, KillDenied, KillNotSupported, UnknownThread
from bridge.netio import Conn
from bridge.protocol.constants import Command
from bridge.protocol.errors import ProtocolError
from bridge.protocol.framing import Packet, PacketHead
from bridge.protocol.kill import (
    build_process_kill,
    parse_kill,
    parse_long_kill,
    parse_process_kill,
)
from bridge.protocol.packets import build_err
from bridge.registry import Entry, SessionRegistry


class KillTranslator:
    __slots__ = ("ask", "client", "log", "owner", "registry", "remote", "settle",
                 "upstream")  # fmt: skip

    def __init__(
        self,
        registry: SessionRegistry,
        client: Conn,
        upstream: Conn,
        log: logging.LoggerAdapter[logging.Logger],
        remote: Callable[[int], Awaitable[Entry | None]] | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
        ask: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """`remote`: finds a session another worker or instance holds (shared state);
        `settle`: returns once the answers to the client's earlier commands are relayed
        (the bridge's own refusal comes after them); `ask`: whether the upstream account
        may kill other users' threads, asked on the upstream connection once it is settled
        (None: it may not)."""
        self.registry = registry
        self.settle = settle
        self.remote = remote
        self.ask = ask
        self.client = client
        self.upstream = upstream
        self.log = log
        self.owner = b""  # the registry's digest of this session's external user

    def became(self, owner: bytes) -> None:
        """The session's external user (and maybe its account) now: after the login or a
        COM_CHANGE_USER."""
        self.owner = owner

    async def query(self, packet: Packet) -> None:
        """A COM_QUERY whose first byte may start a KILL: translated, refused, or passed on
        unchanged (most such queries are no KILL at all)."""
        kill = parse_kill(packet.payload[1:])
        if kill is None or kill.action == "forward":
            self.upstream.send_packet(packet.payload, 0)
        elif kill.action == "refuse":
            self.log.info("KILL refused: %s", kill.reason)
            await self._reply(packet.last_seq, KillNotSupported())
        else:
            thread = await self._thread(packet, kill.target)
            if thread is not None:
                sql = kill.statement(thread)
                self.log.info("KILL %d: running %r upstream", kill.target, sql.decode())
                self.upstream.send_packet(bytes([Command.COM_QUERY]) + sql, 0)

    async def long_query(self, head: PacketHead, drop_rest: Callable[[], Awaitable[int]]) -> bool:
        """The start of a query over 4 KiB whose first byte may start a KILL: True when it
        is none (the relay passes it on, streaming); else its rest is dropped as it comes
        (`drop_rest` returns the last packet's sequence id) and 1235 answered."""
        kill = parse_long_kill(head.head[1:])
        if kill is None:
            return True
        last_seq = await drop_rest()
        self.log.info("KILL refused: %s", kill.reason)
        await self._reply(last_seq, KillNotSupported())
        return False

    async def process_kill(self, packet: Packet) -> None:
        """COM_PROCESS_KILL <id>: the same, as a command."""
        try:
            target = parse_process_kill(packet.payload)
        except ProtocolError:
            target = 0
        thread = await self._thread(packet, target)
        if thread is not None:
            self.log.info("COM_PROCESS_KILL %d: upstream thread %d", target, thread)
            self.upstream.send_packet(build_process_kill(thread), 0)

    async def _thread(self, packet: Packet, target: int) -> int | None:
        entry = self.registry.find(target)
        if entry is None and self.remote is not None:
            entry = await self.remote(target)
        if entry is None:
            self.log.info("KILL of connection id %d, which the bridge does not know", target)
            await self._reply(packet.last_seq, UnknownThread(target))
            return None
        if entry.same_owner(self.owner) or await self._may_kill_others():
            return entry.thread
        self.log.info("KILL of connection id %d refused: another user's session, and the "
                      "upstream account may not kill other users' threads", target)  # fmt: skip
        await self._reply(packet.last_seq, KillDenied(target))
        return None

    async def _may_kill_others(self) -> bool:
        """Asked each time, not kept: the account's privileges, its current role (SET ROLE)
        and its grants may change within a session, and mysqld reads them at each KILL."""
        if self.ask is None:
            return False
        if self.settle is not None:
            await self.settle()  # the question goes upstream behind the earlier commands
        return await self.ask()

    async def _reply(self, last_seq: int, error: BridgeError) -> None:
        """The bridge's answer to the command whose last packet had `last_seq`."""
        if self.settle is not None:
            await self.settle()
        self.client.send_packet(build_err(error.to_err()), (last_seq + 1) & 0xFF)
