"""Walks packet headers in the client->server byte stream during the relay, so the bridge
can stop at a command it handles itself (COM_CHANGE_USER, COM_PROCESS_KILL, COM_QUIT, and a
COM_QUERY whose first byte may start a KILL statement), without parsing anything else.

A packet starts a command when its sequence id is 0, it does not continue a 16 MiB packet,
and it does not continue a run of client packets whose ids wrapped past 255 (LOAD DATA
LOCAL INFILE streams). Any server output in between marks a fresh command boundary.

A LOAD DATA stream ends with an empty packet (one that does not end a 16 MiB packet): after
it the server reads a command. So an empty packet with id 255 ends the run, and a packet
with id 0 right behind it (a client need not wait for the server's OK) starts a command,
as it does for the server; it must not pass as file data (it could be a COM_CHANGE_USER).
"""

from __future__ import annotations

from bridge.protocol.constants import HEADER_SIZE, MAX_PAYLOAD, Command
from bridge.protocol.kill import KILL_START

# Commands the session handles itself; a COM_QUERY is held when it may be a KILL. Plain
# ints: this runs for every command on the relay.
# COM_QUIT: the client is done; the session decides whether the upstream connection goes
# back to the pool.
_HELD = frozenset(
    {int(Command.COM_CHANGE_USER), int(Command.COM_PROCESS_KILL), int(Command.COM_QUIT)}
)
_QUERY = int(Command.COM_QUERY)
_QUERY_HEAD = HEADER_SIZE + 2  # header, command byte, the query's first byte


class CommandScanner:
    __slots__ = ("_continues", "_pending", "_remaining", "_wrapping")

    def __init__(self) -> None:
        self._pending = b""  # an incomplete header (and first payload byte) held back
        self._remaining = 0  # payload bytes of the current packet still to pass
        self._continues = False  # the current packet is 0xFFFFFF long: another follows
        self._wrapping = False  # the last packet had id 255 and a packet with id 0 follows

    @classmethod
    def inside(cls, remaining: int, continues: bool) -> CommandScanner:
        """A scanner that starts `remaining` payload bytes before the end of a packet (a
        held query passed on as it streams); `continues`: that packet is 16 MiB - 1 long,
        so a continuation packet follows it."""
        scanner = cls()
        scanner._remaining, scanner._continues = remaining, continues
        return scanner

    def server_spoke(self) -> None:
        self._wrapping = False

    def feed(self, data: bytes) -> tuple[bytes, bytes | None]:
        """Return (bytes to forward, held). `held` is None, or the bytes from the start of a
        held command's packet on: the caller takes those over and must not feed more."""
        buf = self._pending + data if self._pending else data
        self._pending = b""
        pos, end = 0, len(buf)
        while pos < end:
            if self._remaining:
                step = min(self._remaining, end - pos)
                pos += step
                self._remaining -= step
                continue
            if end - pos < HEADER_SIZE:
                self._pending = buf[pos:]
                return buf[:pos], None
            length = int.from_bytes(buf[pos : pos + 3], "little")
            seq = buf[pos + 3]
            if length and self._starts_command(seq):
                if end - pos < _QUERY_HEAD and (
                    end - pos == HEADER_SIZE or (length > 1 and buf[pos + HEADER_SIZE] == _QUERY)
                ):  # the command byte, or a query's first byte, has not arrived yet
                    self._pending = buf[pos:]
                    return buf[:pos], None
                command = buf[pos + HEADER_SIZE]
                if command == _QUERY:
                    if length > 1 and buf[pos + HEADER_SIZE + 1] in KILL_START:
                        return buf[:pos], buf[pos:]
                elif command in _HELD:
                    return buf[:pos], buf[pos:]
            ends_stream = length == 0 and not self._continues  # LOAD DATA's terminator
            self._wrapping = seq == 0xFF and not ends_stream
            self._continues = length == MAX_PAYLOAD
            self._remaining = length
            pos += HEADER_SIZE
        return buf, None

    def _starts_command(self, seq: int) -> bool:
        return seq == 0 and not self._continues and not self._wrapping
