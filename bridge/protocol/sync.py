"""Where the upstream's answers to the commands relayed so far end: the bridge sends a query
of its own behind them and finds its answer, the last thing in the stream.

The relay does not parse what the upstream sends (that would cost every row of every
result). When the bridge must answer a command itself (COM_CHANGE_USER, a KILL it refuses)
while earlier commands may still be answered, it sends `SELECT X'<token>' AS t LIMIT 1` (a
fresh random 16-byte token, a binary string that no character_set_results re-encodes;
LIMIT 1 so that sql_select_limit cannot hide the row). The upstream answers in order, so
everything before that answer belongs to the client's earlier commands and is relayed;
the answer itself is dropped. Its row is found by the token; its start by walking back
over what must precede that row:

    column count (seq 1: 1, and MySQL's metadata_follows when the client asked for it),
    the column definition (seq 2: its text in character_set_results, so it is only
    counted, not read), EOF (seq 3, unless CLIENT_DEPRECATE_EOF), the row, then EOF or
    an OK with 0xFE

Nothing of a client's earlier answers can pass for that start: the bytes from it to the row
are the bridge's own, and the latest start that fits is taken.
"""

from __future__ import annotations

from bridge.protocol.constants import HEADER_SIZE, MAX_PAYLOAD, Marker
from bridge.protocol.errors import ProtocolError

TOKEN_SIZE = 16
# Bytes held back from the client until the token's row has been seen: the answer's column
# count, definition and EOF come before the row and must not be relayed. They take some 40
# bytes (60 with the names in utf16, more with MariaDB's extended metadata): far below.
MAX_METADATA = 1024
HOLD_BACK = 4096
_MAX_PACKETS = 3  # before the row: the column count, a definition, an EOF


def sync_query(token: bytes, columns: bytes = b"") -> bytes:
    """`SELECT X'<token>' AS t[, <columns>] LIMIT 1`: one row that starts with the token.
    Without columns, the SQL whose answer marks the point."""
    more = b", " + columns if columns else b""
    return b"SELECT X'" + token.hex().encode() + b"' AS t" + more + b" LIMIT 1"


class SyncPoint:
    """Fed what the upstream sends after the sync query went out; says what to relay to
    the client and when the sync query's answer, the end, has arrived. ProtocolError when
    the stream cannot be such an answer (then nothing can be trusted to be in step)."""

    __slots__ = ("_buf", "_row", "received")

    def __init__(self, token: bytes) -> None:
        if len(token) != TOKEN_SIZE:
            raise ValueError("a sync token is 16 bytes")
        self._row = bytes([TOKEN_SIZE]) + token  # the row's payload: string<lenenc> token
        self._buf = bytearray()
        self.received = 0  # bytes fed so far

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes for the client, done). Once done, nothing more is expected."""
        self.received += len(data)
        buf = self._buf
        buf += data
        at = buf.find(self._row)
        if at < 0:
            cut = max(0, len(buf) - HOLD_BACK)
            relay = bytes(buf[:cut])
            del buf[:cut]
            return relay, False
        end = self._answer_end(at - HEADER_SIZE)
        if end is None:
            return b"", False
        if end != len(buf):
            raise ProtocolError("the upstream sent more after the answer to the sync query")
        start = self._answer_start(at - HEADER_SIZE)
        relay = bytes(buf[:start])
        buf.clear()
        return relay, True

    def _answer_end(self, row: int) -> int | None:
        """Where the packet after the token's row ends, or None until it has all come."""
        buf = self._buf
        if row < 0 or buf[row : row + 3] != len(self._row).to_bytes(3, "little"):
            raise ProtocolError("the sync token is not a row of its own")
        last = row + HEADER_SIZE + len(self._row)
        if len(buf) < last + HEADER_SIZE + 1:
            return None
        length = int.from_bytes(buf[last : last + 3], "little")
        if buf[last + HEADER_SIZE] != Marker.EOF or length >= MAX_PAYLOAD:
            raise ProtocolError("the sync query's row is not followed by the end of its result")
        if (buf[last + 3] - buf[row + 3]) & 0xFF != 1:
            raise ProtocolError("the sync query's answer is out of sequence")
        end = last + HEADER_SIZE + length
        return end if len(buf) >= end else None

    def _answer_start(self, row: int) -> int:
        """Where the sync query's answer starts: the latest column count packet from which
        its metadata leads, packet by packet, exactly to the token's row."""
        for at in range(row - HEADER_SIZE - 1, max(-1, row - MAX_METADATA - 1), -1):
            if self._leads_to(at, row):
                return at
        raise ProtocolError("no start to the sync query's answer")

    def _leads_to(self, at: int, row: int) -> bool:
        """A column count of 1 (seq 1) at `at`, then at most a definition and an EOF, each
        in sequence, ending where the row starts; the row next in sequence."""
        buf = self._buf
        length = int.from_bytes(buf[at : at + 3], "little")
        if buf[at + 3] != 1 or length not in (1, 2) or buf[at + HEADER_SIZE] != 1:
            return False
        seq, packets = 1, 0
        while at < row and packets < _MAX_PACKETS:
            if buf[at + 3] != seq & 0xFF:
                return False
            at += HEADER_SIZE + int.from_bytes(buf[at : at + 3], "little")
            seq, packets = seq + 1, packets + 1
        return at == row and buf[row + 3] == seq & 0xFF
