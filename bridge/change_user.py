"""COM_CHANGE_USER in the relay phase: the client authenticates again (always through a
switch, with a fresh nonce), the upstream connection is re-identified as the new account,
and the session goes on as it. A refusal answers ERR and leaves the session on the account
and database it had, reset as MariaDB resets it after a failed change (its variables,
temporary tables, transaction ... gone: bridge/upstream/reset.py), the account's init_sql
run again; after max_change_user_failures refusals the command is refused outright, and
the session reset all the same."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from bridge.attempts import Attempts
from bridge.auth_io import PacketIO
from bridge.authenticate import Authenticator
from bridge.context import SessionContext
from bridge.decision import Authenticated
from bridge.errors import (
    AccessDenied,
    AccessDeniedNoPassword,
    AccountBlocked,
    BridgeError,
    ClientCharsetRefused,
    MustChangePassword,
    NotSupportedAuthMode,
    SecureTransportRequired,
    UnknownCommand,
    client_charset,
)
from bridge.protocol.charsets import charset_name
from bridge.protocol.constants import Capability
from bridge.protocol.framing import Packet
from bridge.protocol.packets import ChangeUser, parse_change_user
from bridge.runtime import Runtime
from bridge.upstream import init_sql, reset
from bridge.upstream.login import UpstreamError, UpstreamSession, change_user
from bridge.upstream.request import (
    Origin,
    init_statements,
    session_attrs,
    upstream_failure,
    upstream_password,
)

# A refused COM_CHANGE_USER answers ERR and leaves the session on the account it was.
CHANGE_USER_REFUSALS = (
    ClientCharsetRefused,  # ucs2, utf16, utf32: before authentication, as mysqld
    AccessDenied,
    AccessDeniedNoPassword,
    AccountBlocked,
    MustChangePassword,
    SecureTransportRequired,
    NotSupportedAuthMode,
)


class ChangingSession(Protocol):
    """What COM_CHANGE_USER needs of the session it changes."""

    current: Authenticated | None  # the account the session is now

    @property
    def ctx(self) -> SessionContext: ...
    @property
    def rt(self) -> Runtime: ...
    @property
    def io(self) -> PacketIO: ...
    @property
    def attempts(self) -> Attempts: ...
    @property
    def log(self) -> logging.LoggerAdapter[Any]: ...
    @property
    def client_caps(self) -> int: ...
    @property
    def upstream(self) -> UpstreamSession | None: ...
    @property
    def origin(self) -> Origin: ...
    @property
    def pool_generation(self) -> int: ...

    def start_attempt(self, event: str, user: str) -> None: ...

    def describe(self, auth: Authenticated) -> str: ...


class ChangeUserHandler:
    def __init__(self, session: ChangingSession, auth: Authenticator) -> None:
        self.session = session
        self.auth = auth
        self.failures = 0

    async def handle(self, packet: Packet) -> None:
        session, server = self.session, self.session.rt.config.server
        session.io.seq = (packet.last_seq + 1) & 0xFF
        # mysqld resets the session to the server's character set before it reads the
        # packet: a name sent without a character set (0, or none) is read in the server's,
        # and the change's errors (which name the user) are written in it, whatever the
        # handshake's or the packet's (MariaDB 10.11: its global character_set_results)
        default = session.ctx.profile.charset
        session.io.charset = charset_name(default, default)
        if self.failures >= server.max_change_user_failures:
            await self._reset_upstream(asked=False)  # MariaDB resets before it refuses
            session.io.send_error(UnknownCommand())
            return
        request = parse_change_user(packet.payload, session.client_caps, default, default)
        session.start_attempt("change_user", request.user)
        try:
            client_charset(request.charset or default, default)
            async with asyncio.timeout(server.change_user_timeout) as deadline:
                user, plugin, first, fresh_nonce = self._opening(request)
                auth = await self.auth.authenticate(user, plugin, first, deadline, fresh_nonce)
        except CHANGE_USER_REFUSALS as exc:
            await self._refuse(exc, asked=False)
            return
        ok = await self._change_upstream(auth, request)
        if isinstance(ok, BridgeError):  # the upstream said no, and reset the session itself
            await self._refuse(ok, asked=True)
            return
        session.current, self.failures = auth, 0
        session.attempts.finish(None)
        session.io.send(ok)
        if session.log.isEnabledFor(logging.INFO):
            session.log.info("changed user: %s", session.describe(auth))

    def _opening(self, request: ChangeUser) -> tuple[str, str | None, bytes, bool]:
        """What authentication starts from. A client with CLIENT_PLUGIN_AUTH gets a switch
        with a fresh nonce; one without it can only send a native scramble of the session's
        nonce in the request itself (and cannot follow a switch)."""
        if self.session.client_caps & Capability.CLIENT_PLUGIN_AUTH:
            return request.user, None, b"", True
        return request.user, "mysql_native_password", request.auth_response, False

    async def _refuse(self, exc: BridgeError, asked: bool) -> None:
        self.failures += 1
        self.session.attempts.finish(exc)
        await self._reset_upstream(asked)
        self.session.io.send_error(exc)

    async def _reset_upstream(self, asked: bool) -> None:
        """The upstream session as MariaDB leaves it after a failed COM_CHANGE_USER (an
        upstream that was `asked` did that itself), then the current account's init_sql
        again, before the refusal is answered; a failure ends the session."""
        session = self.session
        assert session.upstream is not None and session.current is not None
        conn, current = session.upstream.conn, session.current
        try:
            async with asyncio.timeout(session.rt.config.server.change_user_timeout):
                if not asked:
                    await reset.as_after_failed_change(conn, session.upstream.capabilities)
                await init_sql.run(conn, init_statements(current, session.origin))
        except UpstreamError as exc:
            failure = upstream_failure(exc, current.upstream_user, session.log)
            session.io.send_error(failure)  # the answer the client waits for, then the end
            raise failure from None

    async def _change_upstream(
        self, auth: Authenticated, request: ChangeUser
    ) -> bytes | BridgeError:
        """The upstream's OK payload, or the refusal to send when the upstream answered ERR
        (it then keeps the account and resets the session); raises when the leg is lost."""
        session = self.session
        assert session.upstream is not None
        password = upstream_password(session.rt.credentials, auth.upstream_user)
        pool = session.ctx.pool
        accounts = pool.account_check(session.pool_generation)  # of this session's credentials
        attrs = session_attrs(auth, session.origin, request.attrs)
        request = ChangeUser(request.user, b"", request.database, request.charset, None, attrs)
        try:
            ok = await change_user(session.upstream, auth.upstream_user, password, request)
        except UpstreamError as exc:
            failure = upstream_failure(exc, auth.upstream_user, session.log)
            if exc.err is None:
                raise failure from None
            return failure
        try:  # the account itself, not another row (bridge/upstream/whoami.py)
            await accounts.confirm(session.upstream, auth.upstream_user, pool.timeout)
            await init_sql.run(session.upstream.conn, init_statements(auth, session.origin))
        except UpstreamError as exc:  # the upstream is the new account now: end the session
            failure = upstream_failure(exc, auth.upstream_user, session.log)
            session.io.send_error(failure)  # the answer the client waits for, then the end
            raise failure from None
        return ok
