"""May an upstream session kill other users' threads? Asked on the session's own
connection, when one of its clients KILLs another user's session (bridge/upstream/kill.py).

mysqld lets a KILL through when the target thread has the killer's user name (USER(): for
a proxied login the login user, not the proxied account) or when the killer holds the
privilege for other users' threads: MariaDB before 10.5.2 SUPER, from 10.5.2 SUPER or
CONNECTION ADMIN; MySQL SUPER or CONNECTION_ADMIN. On MariaDB 11 and later only CONNECTION
ADMIN is taken as that privilege here (SUPER no longer implies the split privileges
there): the bridge errs on the side of refusing.

The question reads information_schema.USER_PRIVILEGES for the session's own account
(CURRENT_USER()): global privileges granted to the account itself. A privilege the account
has only through a role is not seen, so such a KILL is refused (1095): grant the privilege
to the account directly."""

from __future__ import annotations

import asyncio
import logging
import os
import re

from bridge.protocol.codec import lenenc_bytes
from bridge.protocol.errors import ProtocolError
from bridge.protocol.packets import build_com_query
from bridge.upstream.login import UpstreamError, UpstreamSession
from bridge.upstream.whoami import read_answer, token_select

log = logging.getLogger("bridge.upstream")
WHAT = "the KILL privilege question"
_VERSION = re.compile(r"(?:5\.5\.5-)?(\d+)\.(\d+)\.(\d+)")

# 'user'@'host' as USER_PRIVILEGES.GRANTEE writes it, from CURRENT_USER() (a user name may
# hold '@', a host not).
_HOST = b"SUBSTRING_INDEX(CURRENT_USER(), '@', -1)"
_USER = b"LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) - CHAR_LENGTH(" + _HOST + b") - 1)"
_GRANTEE = b"CONCAT('''', " + _USER + b", '''@''', " + _HOST + b", '''')"


def kill_privileges(server_version: str) -> tuple[str, ...]:
    """The global privileges that let an account kill other users' threads on this
    upstream (its greeting's version string)."""
    found = _VERSION.match(server_version)
    version = tuple(int(n) for n in found.groups()) if found else (0, 0, 0)
    if "mariadb" not in server_version.lower():
        return ("SUPER", "CONNECTION_ADMIN")
    if version < (10, 5, 2):
        return ("SUPER",)
    if version < (11, 0, 0):
        return ("SUPER", "CONNECTION ADMIN")
    return ("CONNECTION ADMIN",)


def privilege_query(token: bytes, privileges: tuple[str, ...]) -> bytes:
    """How many of `privileges` the session's account holds globally, behind `token`."""
    names = b", ".join(b"'" + p.encode() + b"'" for p in privileges)
    return token_select(
        token,
        b"CAST(COUNT(*) AS BINARY) AS k FROM information_schema.USER_PRIVILEGES "
        b"WHERE GRANTEE = " + _GRANTEE + b" AND PRIVILEGE_TYPE IN (" + names + b")",
    )


async def may_kill_others(session: UpstreamSession, timeout: float) -> bool:
    """Ask on `session`, which has nothing else under way. False when the upstream refuses
    the question (an ERR: the answer is complete); ProtocolError when no answer can be read
    within `timeout` seconds (the connection is out of step)."""
    token = os.urandom(16)
    privileges = kill_privileges(session.greeting.server_version)
    query = privilege_query(token, privileges)
    session.conn.send_packet(build_com_query(query, session.capabilities), 0)
    try:
        async with asyncio.timeout(timeout):
            count = await read_answer(session.conn, lenenc_bytes(token), WHAT)
    except UpstreamError as exc:
        log.warning("%s; taken as no privilege to kill other users' threads", exc)
        return False
    except TimeoutError:
        raise ProtocolError(f"no answer to {WHAT} within {timeout:g} s") from None
    return count.isdigit() and int(count) > 0
