"""Basic data types of the MySQL protocol: fixed and length-encoded integers and strings.

https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_data_types.html
"""

from __future__ import annotations

from bridge.protocol.errors import ProtocolError


class Reader:
    """A cursor over one packet payload. Every read checks bounds and raises ProtocolError."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def take(self, n: int) -> bytes:
        start = self._pos
        end = start + n
        if n < 0 or end > len(self._data):
            raise ProtocolError(f"need {n} bytes, {self.remaining} left")
        self._pos = end
        return self._data[start:end]

    def skip(self, n: int) -> None:
        self.take(n)

    def uint(self, width: int) -> int:
        return int.from_bytes(self.take(width), "little")

    def u8(self) -> int:
        pos = self._pos
        if pos >= len(self._data):
            raise ProtocolError("need 1 byte, 0 left")
        self._pos = pos + 1
        return self._data[pos]

    def u16(self) -> int:
        return self.uint(2)

    def u32(self) -> int:
        return self.uint(4)

    def peek_u8(self) -> int:
        if self.at_end():
            raise ProtocolError("need 1 byte, 0 left")
        return self._data[self._pos]

    def lenenc_int(self) -> int:
        """int<lenenc>: < 0xFB is the value; 0xFC, 0xFD, 0xFE prefix 2, 3, 8 bytes.
        0xFB (NULL) and 0xFF are not integers and are refused here."""
        first = self.u8()
        if first < 0xFB:
            return first
        width = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first)
        if width is None:
            raise ProtocolError(f"0x{first:02x} is not a length-encoded integer")
        return self.uint(width)

    def lenenc_bytes(self) -> bytes:
        pos = self._pos
        if pos < len(self._data) and self._data[pos] < 0xFB:  # the common one-byte length
            end = pos + 1 + self._data[pos]
            if end > len(self._data):
                raise ProtocolError("string runs past the end of the packet")
            self._pos = end
            return self._data[pos + 1 : end]
        return self.take(self.lenenc_int())

    def nul_bytes(self) -> bytes:
        """string<NUL>: bytes up to a NUL, which is consumed."""
        end = self._data.find(b"\0", self._pos)
        if end < 0:
            raise ProtocolError("unterminated string")
        chunk = self._data[self._pos : end]
        self._pos = end + 1
        return chunk

    def nul_bytes_or_rest(self) -> bytes:
        """A NUL-terminated string whose NUL some clients leave off at the end of the packet."""
        end = self._data.find(b"\0", self._pos)
        if end < 0:
            return self.rest()
        return self.nul_bytes()

    def rest(self) -> bytes:
        """string<EOF>: everything that is left."""
        return self.take(self.remaining)


def decode_text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{what} is not valid UTF-8") from exc


def uint_bytes(value: int, width: int) -> bytes:
    return value.to_bytes(width, "little")


def lenenc_int(value: int) -> bytes:
    if value < 0:
        raise ValueError("length-encoded integers are unsigned")
    if value < 0xFB:
        return bytes([value])
    if value < 1 << 16:
        return b"\xfc" + uint_bytes(value, 2)
    if value < 1 << 24:
        return b"\xfd" + uint_bytes(value, 3)
    return b"\xfe" + uint_bytes(value, 8)


def lenenc_bytes(value: bytes) -> bytes:
    return lenenc_int(len(value)) + value


def nul_bytes(value: bytes) -> bytes:
    if b"\0" in value:
        raise ValueError("a NUL-terminated string cannot contain NUL")
    return value + b"\0"
