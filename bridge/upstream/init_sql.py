"""Running an account's init_sql statements upstream right after the login."""

from __future__ import annotations

from bridge.netio import Conn
from bridge.protocol.constants import Command
from bridge.upstream.login import expect_ok


async def run(conn: Conn, statements: list[str]) -> None:
    """Run each statement; anything but an OK (an error, or rows) fails the login."""
    for statement in statements:
        conn.send_packet(bytes([Command.COM_QUERY]) + statement.encode("utf-8"), 0)
        await expect_ok(
            conn, "init_sql", "init_sql returned rows; it may only run statements like SET"
        )
