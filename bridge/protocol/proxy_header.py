"""The PROXY protocol header (HAProxy's send-proxy / send-proxy-v2), which a trusted load
balancer puts before the MySQL greeting exchange to say who the client really is.

https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from bridge.protocol.errors import ProtocolError

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest v1 line, CRLF included


@dataclass(frozen=True, slots=True)
class ProxiedAddress:
    """The original client; None for a LOCAL/UNKNOWN header (the balancer's own checks)."""

    source: str | None
    port: int | None


def take_header(buffer: bytearray) -> ProxiedAddress | None:
    """Remove one PROXY header from the front of `buffer` and return what it says, or None if
    more bytes are needed. Anything that is not a PROXY header raises ProtocolError."""
    if buffer[:1] == V2_SIGNATURE[:1]:
        return _take_v2(buffer)
    if buffer[:1] == V1_PREFIX[:1]:
        return _take_v1(buffer)
    if buffer:
        raise ProtocolError("expected a PROXY protocol header from this address")
    return None


def _take_v1(buffer: bytearray) -> ProxiedAddress | None:
    end = buffer.find(b"\r\n")
    if end < 0:
        if len(buffer) >= V1_MAX or not V1_PREFIX.startswith(bytes(buffer[:6])[: len(buffer)]):
            raise ProtocolError("PROXY v1 header too long or malformed")
        return None
    line = bytes(buffer[:end]).decode("ascii", "replace").split(" ")
    del buffer[: end + 2]
    if line[0] != "PROXY" or len(line) < 2:
        raise ProtocolError("malformed PROXY v1 header")
    if line[1] == "UNKNOWN":
        return ProxiedAddress(None, None)
    if line[1] not in ("TCP4", "TCP6") or len(line) != 6:
        raise ProtocolError("malformed PROXY v1 header")
    try:
        source = str(ipaddress.ip_address(line[2]))
        port = int(line[4])
    except ValueError as exc:
        raise ProtocolError("bad address in PROXY v1 header") from exc
    return ProxiedAddress(source, port)


def _take_v2(buffer: bytearray) -> ProxiedAddress | None:
    if len(buffer) < 16:
        if not V2_SIGNATURE.startswith(bytes(buffer[:12])):
            raise ProtocolError("malformed PROXY v2 signature")
        return None
    if bytes(buffer[:12]) != V2_SIGNATURE:
        raise ProtocolError("malformed PROXY v2 signature")
    version_command, family, length = buffer[12], buffer[13], struct.unpack(">H", buffer[14:16])[0]
    if version_command >> 4 != 2:
        raise ProtocolError("unsupported PROXY protocol version")
    if len(buffer) < 16 + length:
        return None
    body = bytes(buffer[16 : 16 + length])
    del buffer[: 16 + length]
    if version_command & 0x0F == 0:  # LOCAL: the balancer speaking for itself
        return ProxiedAddress(None, None)
    sizes = {0x11: (4, 12), 0x21: (16, 36)}  # TCP over IPv4 / IPv6: address size, block size
    if family not in sizes:
        return ProxiedAddress(None, None)  # UNSPEC or Unix: no usable client address
    size, block = sizes[family]
    if len(body) < block:
        raise ProtocolError("PROXY v2 address block too short")
    source = str(ipaddress.ip_address(body[:size]))
    port = struct.unpack(">H", body[2 * size : 2 * size + 2])[0]
    return ProxiedAddress(source, port)


def build_v2(source: str, port: int, destination: str, destination_port: int) -> bytes:
    """A PROXY v2 header (for tests and tools)."""
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    family = 0x11 if src.version == 4 else 0x21
    block = src.packed + dst.packed + struct.pack(">HH", port, destination_port)
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack(">H", len(block)) + block
