"""Running an account's init_sql statements upstream right after the login."""

from __future__ import annotations

from bridge.netio import Conn
from bridge.protocol.constants import Command, Marker
from bridge.protocol.packets import parse_err
from bridge.upstream.login import MAX_AUTH_PACKET, UpstreamError


async def run(conn: Conn, statements: list[str]) -> None:
    """Run each statement; anything but an OK (an error, or rows) fails the login."""
    for statement in statements:
        conn.send_packet(bytes([Command.COM_QUERY]) + statement.encode("utf-8"), 0)
        packet = await conn.read_packet(MAX_AUTH_PACKET)
        marker = packet.payload[:1]
        if marker == bytes([Marker.ERR]):
            err = parse_err(packet.payload)
            raise UpstreamError(f"init_sql failed: {err.errno} {err.message}", err)
        if marker != bytes([Marker.OK]):
            raise UpstreamError("init_sql returned rows; it may only run statements like SET")
