"""Which account the upstream really gave the bridge: CURRENT_USER() after a login.

MySQL's match order can give a login another account's row than the one meant: an
anonymous ''@'localhost' (what mariadb-install-db creates) has a more specific host than
'np'@'%', so a login as np from localhost becomes ''@'localhost' when the password fits
that row (both empty). The session would run with the anonymous account's privileges.

"The same account" here: the user name part of CURRENT_USER() is exactly the name the
bridge logged in with; its host part is whichever of that user's rows the upstream
matched (that choice is the upstream DBA's). Anything else (the anonymous account,
another user's row through an upstream proxy mapping) is the wrong account.

`check --online` asks after each login. A running bridge asks (one round trip) on the
first login of each account after start and after each reload, and the pool's check when
a connection comes back asks it in the same query it sends anyway (no round trip): an
account found wrong is logged once as an ERROR and asked again on each of its logins,
which are refused (3169) until the upstream gives the account itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

from bridge.netio import Conn
from bridge.protocol.codec import Reader, lenenc_bytes
from bridge.protocol.constants import MAX_PAYLOAD, Marker
from bridge.protocol.errors import ProtocolError
from bridge.protocol.packets import build_com_query, parse_err
from bridge.protocol.sync import sync_query
from bridge.upstream.login import MAX_AUTH_PACKET, UpstreamError, UpstreamSession

log = logging.getLogger("bridge.upstream")

# A binary string: character_set_results (the client's charset) cannot re-encode it.
CURRENT_USER = b"CAST(CURRENT_USER() AS BINARY)"
MAX_ANSWER_PACKETS = 16  # column count, definitions, EOF, the row, the end: a handful


@dataclass(frozen=True, slots=True)
class UpstreamAccount:
    """An account as CURRENT_USER() names it: user@host."""

    user: str
    host: str

    @classmethod
    def parse(cls, current_user: str) -> UpstreamAccount:
        user, _, host = current_user.rpartition("@")  # a user name may hold '@', a host not
        return cls(user, host)

    def __str__(self) -> str:
        return f"'{self.user}'@'{self.host}'"


def wrong_account(intended: str, current: str) -> str | None:
    """None when `current` (CURRENT_USER()) is an account of the user `intended`; else why
    it is not, and what to do, for the DBA."""
    got = UpstreamAccount.parse(current)
    if got.user == intended:
        return None
    said = f"the upstream logged the bridge in as {got}, not as '{intended}' (CURRENT_USER())"
    if got.user == "":
        return (
            f"{said}: its anonymous account {got} matches first, since MySQL and MariaDB "
            f"prefer the most specific host (mariadb-install-db creates ''@'localhost', which "
            f"comes before '{intended}'@'%'); drop it (DROP USER {got}) or create "
            f"'{intended}' for the host the bridge connects from"
        )
    return f"{said}: sessions would have {got}'s privileges; log in as an account that is itself"


def token_select(token: bytes, columns: bytes) -> bytes:
    """`SELECT X'<token>' AS t, <columns> LIMIT 1`: its row starts with the token (a binary
    string, which no character_set_results re-encodes), so it is found behind anything
    else the connection sends; LIMIT 1 keeps sql_select_limit from hiding it."""
    return sync_query(token, columns)


def current_user_query(token: bytes) -> bytes:
    return token_select(token, CURRENT_USER + b" AS u")


async def current_user(session: UpstreamSession) -> str:
    """SELECT CURRENT_USER() on a session that has nothing else under way (one round trip).
    The row is the one that starts with a fresh random token, whatever metadata comes
    before it (CLIENT_DEPRECATE_EOF, MySQL's optional or MariaDB's cached metadata)."""
    token = os.urandom(16)
    conn = session.conn
    conn.send_packet(build_com_query(current_user_query(token), session.capabilities), 0)
    return await read_answer(conn, lenenc_bytes(token))


async def ask_current_user(session: UpstreamSession, timeout: float) -> str:
    """current_user() within `timeout` seconds; UpstreamError (for the log and 3169) when
    the upstream sends no answer that can be read."""
    try:
        async with asyncio.timeout(timeout):
            return await current_user(session)
    except (TimeoutError, ProtocolError, ConnectionError) as exc:
        raise UpstreamError(f"SELECT CURRENT_USER() got no answer: {exc!r}") from exc


async def read_answer(conn: Conn, wanted: bytes, what: str = "SELECT CURRENT_USER()") -> str:
    """The column after the token (`wanted`, lenenc) in the answer to a token_select()
    query: `what` names the query in errors."""
    found: bytes | None = None
    for _ in range(MAX_ANSWER_PACKETS):
        payload = (await conn.read_packet(MAX_AUTH_PACKET)).payload
        if payload[:1] == bytes([Marker.ERR]):
            err = parse_err(payload)
            raise UpstreamError(f"{what} failed: {err.errno} {err.message}", err)
        if found is None and payload.startswith(wanted):
            found = Reader(payload[len(wanted) :]).lenenc_bytes()
        elif found is not None and ends_result(payload):
            return found.decode("utf-8", "replace")
    raise ProtocolError(f"no end to the answer of {what}")


def ends_result(payload: bytes) -> bool:
    """EOF, or OK with 0xFE (CLIENT_DEPRECATE_EOF): a row may start with 0xFE only when
    it is at least 16 MiB long."""
    return payload[:1] == bytes([Marker.EOF]) and len(payload) < MAX_PAYLOAD


class AccountCheck:
    """Which upstream accounts this process has seen to be themselves, and which it has
    reported as wrong. A reload (new credentials, a new upstream) makes a new one: every
    account is asked again; a login under way when it came records in the old one."""

    def __init__(self) -> None:
        self._confirmed: set[str] = set()
        self._reported: set[str] = set()

    def confirmed(self, user: str) -> bool:
        return user in self._confirmed

    async def confirm(self, session: UpstreamSession, user: str, timeout: float) -> None:
        """Before a session is handed over as `user`: ask CURRENT_USER() unless this account
        was seen to be itself already; raise UpstreamError when it is another, or when the
        upstream does not answer within `timeout` seconds."""
        if user in self._confirmed:
            return
        current = await ask_current_user(session, timeout)
        if not self.judge(user, current):
            got = UpstreamAccount.parse(current)
            raise UpstreamError(f"the upstream logged the bridge in as {got}, not as '{user}'")

    def judge(self, user: str, current: str) -> bool:
        """Record what CURRENT_USER() said for a login as `user`; False when it is another
        account (logged as an ERROR once until the account is itself again)."""
        why = wrong_account(user, current)
        if why is None:
            self._confirmed.add(user)
            self._reported.discard(user)
            return True
        self._confirmed.discard(user)
        if user not in self._reported:
            self._reported.add(user)
            log.error("upstream account '%s': %s; its logins are refused (ERROR 3169)", user, why)
        return False
