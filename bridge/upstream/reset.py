"""The upstream session after a COM_CHANGE_USER the bridge refused itself, as MariaDB
leaves its own after a failed one.

Measured on MariaDB 10.11 (mysqlclient and Connector/Python, directly): a failed
COM_CHANGE_USER (a wrong password, an unknown user, an unknown database, and the 1047 after
three failures alike) keeps the connection, its user and its current database, and resets
everything else as COM_RESET_CONNECTION does: user variables, session variables, temporary
tables, prepared statements, named locks, an open transaction (rolled back), autocommit.
The one difference is the character set: COM_RESET_CONNECTION goes back to the
handshake's, a failed change to the server's (the global character_set_client,
collation_connection and character_set_results). So: COM_RESET_CONNECTION, then those
three set to their global values. Both are answered with one OK each, in order.
"""

from __future__ import annotations

from bridge.netio import Conn
from bridge.protocol.constants import Command
from bridge.protocol.packets import build_com_query
from bridge.upstream.login import expect_ok

SERVER_CHARSET = (
    b"SET character_set_client = DEFAULT, collation_connection = DEFAULT, "
    b"character_set_results = DEFAULT"
)


def reset_commands(capabilities: int) -> tuple[bytes, ...]:
    """The payloads sent, each a command of its own."""
    return bytes([Command.COM_RESET_CONNECTION]), build_com_query(SERVER_CHARSET, capabilities)


async def as_after_failed_change(conn: Conn, capabilities: int) -> None:
    """Reset the session as MariaDB's failed COM_CHANGE_USER does; raises UpstreamError
    when the upstream answers anything but OK. The caller bounds the time it takes."""
    commands = reset_commands(capabilities)
    for payload in commands:
        conn.send_packet(payload, 0)
    for _ in commands:
        await expect_ok(conn, "session reset", "session reset: the upstream answered out of step")
