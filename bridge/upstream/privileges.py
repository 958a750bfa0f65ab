"""May an upstream session kill other users' threads? Asked on the session's own
connection, when one of its clients KILLs another user's session (bridge/upstream/kill.py).

mysqld lets a KILL through when the target thread has the killer's user name (USER(): for
a proxied login the login user, not the proxied account) or when the killer holds the
privilege for other users' threads: MariaDB before 10.5.2 SUPER, from 10.5.2 SUPER or
CONNECTION ADMIN; MySQL SUPER or CONNECTION_ADMIN. On MariaDB 11 and later only CONNECTION
ADMIN is taken as that privilege here (SUPER no longer implies the split privileges
there): the bridge errs on the side of refusing.

On MariaDB the question is SHOW GRANTS, which lists the account's own grants and, when a
role is set (a default role at login, or SET ROLE), that role's and those of the roles it
holds (measured on 10.11): a privilege held through the current role counts, as it does
for mysqld's KILL, and one of a role granted but not set does not. A global grant
(`GRANT ... ON *.* TO`) of one of the privileges, or of ALL PRIVILEGES, is the answer yes.
SHOW GRANTS has no token of its own: a `SELECT X'<token>'` sent right behind it marks where
its answer ends. Its rows hold password hashes: they are read here and never logged.

On MySQL the question reads information_schema.USER_PRIVILEGES for the session's own
account (CURRENT_USER()): a privilege held only through a role is not seen there, and such
a KILL is refused (1095): grant the privilege to the account directly."""

from __future__ import annotations

import asyncio
import logging
import os
import re

from bridge.netio import Conn
from bridge.protocol.codec import Reader, lenenc_bytes
from bridge.protocol.constants import Marker
from bridge.protocol.errors import ProtocolError
from bridge.protocol.packets import build_com_query, parse_err
from bridge.protocol.sync import sync_query
from bridge.upstream.login import MAX_AUTH_PACKET, UpstreamError, UpstreamSession
from bridge.upstream.version import is_mariadb, release
from bridge.upstream.whoami import ends_result, read_answer, token_select

log = logging.getLogger("bridge.upstream")
WHAT = "the KILL privilege question"
SHOW_GRANTS = b"SHOW GRANTS"
MAX_GRANT_PACKETS = 100_000  # an account with very many table grants: still an end
# A global grant's privileges are keywords (`READ_ONLY ADMIN`, `ALL PRIVILEGES`): never a
# quoted name, so a column, table, database, role or user named `a, SUPER ON *.* TO b`,
# written inside its own row, does not read as one.
_GLOBAL_GRANT = re.compile(rb"GRANT ([A-Z_ ,]+) ON \*\.\* TO ")

# 'user'@'host' as USER_PRIVILEGES.GRANTEE writes it, from CURRENT_USER() (a user name may
# hold '@', a host not).
_HOST = b"SUBSTRING_INDEX(CURRENT_USER(), '@', -1)"
_USER = b"LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) - CHAR_LENGTH(" + _HOST + b") - 1)"
_GRANTEE = b"CONCAT('''', " + _USER + b", '''@''', " + _HOST + b", '''')"


def kill_privileges(server_version: str) -> tuple[str, ...]:
    """The global privileges that let an account kill other users' threads on this
    upstream (its greeting's version string)."""
    version = release(server_version) or (0, 0, 0)
    if not is_mariadb(server_version):
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
    version = session.greeting.server_version
    privileges = kill_privileges(version)
    try:
        async with asyncio.timeout(timeout):
            if is_mariadb(version):
                return holds(await _grants(session, token), privileges)
            return await _user_privileges(session, token, privileges)
    except UpstreamError as exc:
        log.warning("%s; taken as no privilege to kill other users' threads", exc)
        return False
    except TimeoutError:
        raise ProtocolError(f"no answer to {WHAT} within {timeout:g} s") from None


async def _user_privileges(
    session: UpstreamSession, token: bytes, privileges: tuple[str, ...]
) -> bool:
    query = privilege_query(token, privileges)
    session.conn.send_packet(build_com_query(query, session.capabilities), 0)
    count = await read_answer(session.conn, lenenc_bytes(token), WHAT)
    return count.isdigit() and int(count) > 0


async def _grants(session: UpstreamSession, token: bytes) -> list[bytes]:
    """SHOW GRANTS, and behind it the token's SELECT that marks the end of its answer."""
    session.conn.send_packet(build_com_query(SHOW_GRANTS, session.capabilities), 0)
    session.conn.send_packet(build_com_query(sync_query(token), session.capabilities), 0)
    return await read_grants(session.conn, lenenc_bytes(token))


async def read_grants(conn: Conn, wanted: bytes) -> list[bytes]:
    """The rows of SHOW GRANTS (each `GRANT ...` text), read up to the end of the answer to
    the token's SELECT (`wanted`, lenenc) behind it. UpstreamError when SHOW GRANTS is
    refused (after that answer: the connection stays in step)."""
    rows: list[bytes] = []
    refused: UpstreamError | None = None
    seen = False
    for _ in range(MAX_GRANT_PACKETS):
        payload = (await conn.read_packet(MAX_AUTH_PACKET)).payload
        if seen and ends_result(payload):
            if refused is not None:
                raise refused
            return rows
        if payload.startswith(wanted):
            seen = True
        elif payload[:1] == bytes([Marker.ERR]):
            err = parse_err(payload)
            if refused is not None or rows:  # the token's SELECT failed: both are answered
                raise UpstreamError(f"{WHAT} failed: {err.errno} {err.message}", err)
            refused = UpstreamError(f"{WHAT} (SHOW GRANTS) failed: {err.errno} {err.message}", err)
        elif (row := grant_row(payload)) is not None:
            rows.append(row)
    raise ProtocolError(f"no end to the answer of {WHAT}")


def grant_row(payload: bytes) -> bytes | None:
    """The text of a SHOW GRANTS row (one string: 'GRANT ...'), or None for any other
    packet of the answer (column count and definition, EOF)."""
    reader = Reader(payload)
    try:
        text = reader.lenenc_bytes()
    except ProtocolError:
        return None
    return text if reader.at_end() and text.startswith(b"GRANT ") else None


def holds(rows: list[bytes], privileges: tuple[str, ...]) -> bool:
    """Whether SHOW GRANTS rows grant one of `privileges` (or ALL PRIVILEGES) on *.*."""
    wanted = {p.encode() for p in privileges} | {b"ALL PRIVILEGES"}
    for row in rows:
        found = _GLOBAL_GRANT.match(row)
        if found is not None and wanted & {p.strip() for p in found[1].split(b",")}:
            return True
    return False
