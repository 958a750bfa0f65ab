"""Packet framing: a 3-byte little-endian payload length and a 1-byte sequence id.

A payload of 16 MiB - 1 or more is split into packets of 0xFFFFFF bytes; a packet shorter
than that ends it (an empty one if the length is an exact multiple).
https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.protocol.constants import HEADER_SIZE, MAX_PAYLOAD
from bridge.protocol.errors import PacketsOutOfOrder, PacketTooLarge


@dataclass(frozen=True, slots=True)
class Packet:
    seq: int  # sequence id of the first physical packet
    payload: bytes
    last_seq: int  # sequence id of the last physical packet (differs when split)


@dataclass(frozen=True, slots=True)
class PacketHead:
    """The start of a packet too long to hold whole: its first payload bytes. The rest
    stays in the connection's buffer (and on the wire) for the caller to pass on or drop."""

    seq: int
    length: int  # the first physical packet's payload length
    head: bytes  # its first payload bytes
    raw: bytes  # the header and `head`, as they came

    @property
    def remaining(self) -> int:
        """Payload bytes of the first physical packet not in `head`."""
        return self.length - len(self.head)

    @property
    def continues(self) -> bool:
        """The payload goes on in a continuation packet (16 MiB - 1 in this one)."""
        return self.length == MAX_PAYLOAD


def frame(payload: bytes, seq: int) -> bytes:
    """Frame a payload starting at sequence id `seq`, splitting at 16 MiB."""
    parts = []
    offset = 0
    while True:
        chunk = payload[offset : offset + MAX_PAYLOAD]
        parts.append(len(chunk).to_bytes(3, "little") + bytes([seq & 0xFF]) + chunk)
        seq += 1
        offset += MAX_PAYLOAD
        if len(chunk) < MAX_PAYLOAD:
            return b"".join(parts)


def parse_header(header: bytes) -> tuple[int, int]:
    """(payload length, sequence id) of a 4-byte header."""
    return int.from_bytes(header[:3], "little"), header[3]


def take_packet(buffer: bytearray, max_payload: int) -> Packet | None:
    """Remove one whole (joined) packet from the front of `buffer`, or return None if more
    bytes are needed. Raises PacketsOutOfOrder for out-of-order continuation packets, and
    PacketTooLarge as soon as the headers announce more than `max_payload`. Only headers
    are read until the packet is complete: a large one is copied once, not on every call."""
    end = _packet_end(buffer, max_payload)
    if end is None:
        return None
    chunks: list[bytes] = []
    offset = 0
    first_seq = buffer[3]
    while offset < end:
        length, last_seq = parse_header(bytes(buffer[offset : offset + HEADER_SIZE]))
        chunks.append(bytes(buffer[offset + HEADER_SIZE : offset + HEADER_SIZE + length]))
        offset += HEADER_SIZE + length
    del buffer[:end]
    return Packet(first_seq, chunks[0] if len(chunks) == 1 else b"".join(chunks), last_seq)


def take_head(buffer: bytearray, whole_up_to: int, max_payload: int) -> Packet | PacketHead | None:
    """A packet whose payload is at most `whole_up_to` bytes (less than 16 MiB), whole, as
    take_packet() takes it; of a longer one only its header and first `whole_up_to` payload
    bytes (removed from `buffer`). None until that much has arrived."""
    if len(buffer) < HEADER_SIZE:
        return None
    length, seq = parse_header(bytes(buffer[:HEADER_SIZE]))
    if length <= whole_up_to:
        return take_packet(buffer, max_payload)
    end = HEADER_SIZE + whole_up_to
    if len(buffer) < end:
        return None
    raw = bytes(buffer[:end])
    del buffer[:end]
    return PacketHead(seq, length, raw[HEADER_SIZE:], raw)


def take_header(buffer: bytearray) -> tuple[int, int] | None:
    """(payload length, sequence id) of the header at the front of `buffer`, removed."""
    if len(buffer) < HEADER_SIZE:
        return None
    header = parse_header(bytes(buffer[:HEADER_SIZE]))
    del buffer[:HEADER_SIZE]
    return header


def drop_front(buffer: bytearray, most: int) -> int | None:
    """Drop up to `most` (> 0) bytes from the front of `buffer`: how many, None if empty."""
    if not buffer:
        return None
    dropped = min(len(buffer), most)
    del buffer[:dropped]
    return dropped


def _packet_end(buffer: bytearray, max_payload: int) -> int | None:
    """Where the whole packet at the front of `buffer` ends, or None if it has not all
    arrived; checks the sequence of continuation parts and the size limit on the way."""
    offset = total = 0
    last_seq = -1
    while len(buffer) - offset >= HEADER_SIZE:
        length, seq = parse_header(bytes(buffer[offset : offset + HEADER_SIZE]))
        if last_seq >= 0 and seq != (last_seq + 1) & 0xFF:
            raise PacketsOutOfOrder(f"continuation packet out of order: {seq} after {last_seq}")
        last_seq, total = seq, total + length
        if total > max_payload:
            raise PacketTooLarge(f"packet of {total}+ bytes exceeds the limit of {max_payload}")
        offset += HEADER_SIZE + length
        if len(buffer) < offset:
            return None
        if length < MAX_PAYLOAD:
            return offset
    return None
