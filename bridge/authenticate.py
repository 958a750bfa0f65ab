"""The authentication step of a session: match the row (or a decoy), run its wire method
(switching if the client started with another one), verify what the wire proved with the
row's backend, and resolve the account the session becomes; with the throttle's locks and
delays around it, and the same refusal for an unknown user as for a wrong password.

All I/O with the client goes through one AuthExchange (bridge/auth_io.py)."""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from dataclasses import dataclass
from typing import cast

from bridge.attempts import Attempts
from bridge.auth_io import AuthExchange, PacketIO
from bridge.backends.base import Identity, Peer
from bridge.budget import backend_budget, wait_on_backend
from bridge.context import SessionContext
from bridge.credentials import Credential
from bridge.decision import Authenticated, Verdict, check_transport, choose, resolve
from bridge.errors import (
    AccessDenied,
    AccessDeniedNoPassword,
    AccountBlocked,
    BackendUnavailable,
    BridgeError,
    Denied,
    MustChangePassword,
    NotSupportedAuthMode,
    PasswordChangeRequired,
)
from bridge.logfmt import Log
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import ClientHost
from bridge.mapping.proxy import Decision
from bridge.plugins import PLUGINS, PluginSpec
from bridge.protocol.constants import SCRAMBLE_LENGTH, Capability
from bridge.protocol.errors import ProtocolError
from bridge.runtime import Runtime
from bridge.scramble import check_sha2_token
from bridge.state.throttle import ThrottleClosed
from bridge.wire import WIRE_METHODS, WireContext, WireMethod
from bridge.wire.base import GssService, Opening, is_empty_answer

# Random byte -> scramble byte, as mysqld makes it: 7 bits, and never NUL or '$'.
_NONCE_BYTES = bytes((b & 0x7F) + 1 if (b & 0x7F) in (0, 0x24) else b & 0x7F for b in range(256))


def new_nonce() -> bytes:
    return os.urandom(SCRAMBLE_LENGTH).translate(_NONCE_BYTES)


@dataclass(frozen=True, slots=True)
class Client:
    """Who is authenticating, as the handshake settled it."""

    host: ClientHost
    address: str  # the IP address, or 'localhost' for the Unix socket
    peer: Peer
    secure: bool  # TLS or the Unix socket
    uid: int | None  # SO_PEERCRED on the Unix socket
    capabilities: int  # what the client and the bridge agreed on


class Authenticator:
    """The authentication of one connection: its login, then each COM_CHANGE_USER."""

    def __init__(
        self, ctx: SessionContext, rt: Runtime, io: PacketIO, attempts: Attempts, log: Log,
        client: Client, nonce: bytes,
    ) -> None:  # fmt: skip
        self.ctx, self.rt, self.io, self.attempts, self.log = ctx, rt, io, attempts, log
        self.client = client
        self.nonce = nonce  # the greeting's; a COM_CHANGE_USER switch may make a fresh one
        self.user = ""  # the user name of the attempt under way
        self.used_password = False

    async def authenticate(
        self, user: str, client_plugin: str | None, first: bytes,
        deadline: asyncio.Timeout | None, change_user: bool = False,
    ) -> Authenticated:  # fmt: skip
        """Match the row, run its wire method (switching if the client started with another
        one), verify with its backend. On COM_CHANGE_USER, always switch (fresh nonce)."""
        started = time.monotonic()
        self.user = user
        await self._refuse_long_name(user, first)
        await self._throttle(user, deadline)
        answered = client_plugin is None or not is_empty_answer(first)
        choice = choose(self.rt, user, self.client.host, client_plugin, answered)
        row, decoy, spec = choice.row, choice.decoy, choice.spec
        method = WIRE_METHODS[choice.wire_method]
        self.attempts.note(row=row.source if decoy else row.account, wire_method=method.name,
                           backend=spec.backend)  # fmt: skip
        if change_user and not method.keeps_session_nonce:
            # libmariadb keeps the nonce of the last switch as the session's and answers a
            # later native switch from it (even after a refusal): so does the bridge.
            self.nonce = new_nonce()
        self.used_password = not is_empty_answer(first)
        check_transport(self.rt, choice, self.client.secure)  # 3159 before anything is asked
        try:
            opening = self._opening(client_plugin, first, change_user)
            credential = await self._run_method(method, row, opening, deadline)
            self.used_password = credential.used_password
            identity = await self._verify(credential, row, deadline)
            if decoy:
                raise Denied("no account matches")
            self.attempts.note(identity=identity.name, groups=identity.groups)
            decision = self._resolve(row, identity)
        except Denied as exc:
            reason = "no account matches" if decoy else exc.reason
            self._log_denied(user, row, method.name, reason, started)
            await self.ctx.throttle.failure(user, self.client.address, exc.resolved)
            if isinstance(exc, PasswordChangeRequired) and not decoy:
                raise MustChangePassword(reason) from None
            raise self._denial(spec, reason) from None
        except BackendUnavailable as exc:
            self.log.warning("backend outage for %r: %s", user, exc)
            self.ctx.metrics.backend_outages.labels(spec.backend).inc()
            raise self._denial(spec, f"backend unavailable: {exc}") from None
        self.attempts.note(proxied_account=decision.account)
        await self._check_resolved_lock(identity)
        await self.ctx.throttle.success(user, self.client.address, identity.resolved_names)
        return Authenticated(row, identity, method.name, decision)

    async def _run_method(
        self, method: WireMethod, row: AccountRow, opening: Opening,
        deadline: asyncio.Timeout | None,
    ) -> Credential:  # fmt: skip
        """The wire exchange, through one AuthExchange: with a switch first when the method
        asks for one (the client opened with another method, or its plugin still waits for
        the data it answers)."""
        target = method.switch_to(opening)
        exchange = AuthExchange(self.io, self.log, target,
                                lambda: self._extend_for_question(deadline))  # fmt: skip
        digest = await self._fast_digest(method, row)
        ctx = self._wire_context(row, exchange, digest, target or opening.plugin)
        first = opening.first
        if target is not None:
            self._check_can_switch(target)
        if target == method.name and method.switch_on_first_send:
            first = b""  # the switch rides the method's first packet (dialog: PAM's question)
        elif target is not None:
            first = await exchange.ask(WIRE_METHODS[target].switch_data(ctx))
            self.used_password = not is_empty_answer(first)
        return await exchange.drive(method.run(ctx, first))

    def _opening(self, client_plugin: str | None, first: bytes, change_user: bool) -> Opening:
        """The client's plugin had the bridge's data when it is the greeting's plugin, on
        COM_CHANGE_USER (the session's nonce), and always without CLIENT_PLUGIN_AUTH (such
        a client answers the greeting's nonce with a native scramble, or nothing)."""
        can_switch = bool(self.client.capabilities & Capability.CLIENT_PLUGIN_AUTH)
        greeting = self.rt.config.server.default_auth_plugin
        greeted = change_user or not can_switch or client_plugin == greeting
        return Opening(client_plugin, first, greeted, can_switch)

    def _check_can_switch(self, method: str) -> None:
        """A client without CLIENT_PLUGIN_AUTH cannot follow an AuthSwitchRequest: mysqld
        answers ER_NOT_SUPPORTED_AUTH_MODE instead of sending one."""
        if not self.client.capabilities & Capability.CLIENT_PLUGIN_AUTH:
            raise NotSupportedAuthMode(f"client cannot switch to {method} (no CLIENT_PLUGIN_AUTH)")

    def _extend_for_question(self, deadline: asyncio.Timeout | None) -> None:
        """A person may be typing: each question extends the deadline by the PAM timeout."""
        pam = self.rt.config.backends.pam
        if deadline is not None and pam is not None:
            extended = asyncio.get_running_loop().time() + pam.timeout
            deadline.reschedule(max(extended, deadline.when() or 0))

    async def _refuse_long_name(self, user: str, first: bytes) -> None:
        """Longer than any account name can be: refused up front, as a wrong password."""
        limit = self.rt.config.server.max_user_name_length
        if len(user) <= limit:
            return
        self.used_password = not is_empty_answer(first)
        self.log.info("access denied: user=%r... reason=user name longer than %d characters",
                      user[:limit], limit)  # fmt: skip
        await self.ctx.throttle.failure(user, self.client.address)
        raise AccessDenied(user, self.client.host.display, self.used_password,
                           f"user name longer than {limit} characters")  # fmt: skip

    async def _check_resolved_lock(self, identity: Identity) -> None:
        """The name the backend resolved may be locked under another spelling."""
        locked = await self.ctx.throttle.locked(self.user, self.client.address,
                                                identity.resolved_names)  # fmt: skip
        if locked is not None:
            lock = self.rt.config.protection.lock_time
            raise AccountBlocked(self.user, self.client.host.display, lock, *locked)

    async def _throttle(self, user: str, deadline: asyncio.Timeout | None) -> None:
        """A lock refuses at once (ERROR 3955, whatever the password); a delay is served here,
        on the event loop, with the handshake deadline moved by as much."""
        address = self.client.address
        try:
            locked, delay = await self.ctx.throttle.check(user, address)
        except ThrottleClosed as exc:  # the state engine is down and the policy says refuse
            self.log.warning("refused %r: %s", user, exc)
            raise AccessDenied(user, self.client.host.display, self.used_password,
                               str(exc)) from None  # fmt: skip
        if locked is not None:
            lock = self.rt.config.protection.lock_time
            raise AccountBlocked(user, self.client.host.display, lock, *locked)
        if delay:
            self.log.info("delaying %r from %s by %.1f s after failed logins", user, address, delay)
            if deadline is not None and deadline.when() is not None:
                deadline.reschedule(deadline.when() + delay)  # type: ignore[operator]
            await asyncio.sleep(delay)

    def _denial(self, spec: PluginSpec, reason: str) -> BridgeError:
        if not spec.mentions_password:
            return AccessDeniedNoPassword(self.user, self.client.host.display, reason)
        return AccessDenied(self.user, self.client.host.display, self.used_password, reason)

    async def _fast_digest(self, method: WireMethod, row: AccountRow) -> bytes | None:
        """caching_sha2_password: the row's cached digest, fetched before the exchange."""
        if method.name != "caching_sha2_password":
            return None
        return await self.rt.store.fast_digest(row)

    def _wire_context(
        self, row: AccountRow, exchange: AuthExchange, digest: bytes | None,
        client_plugin: str | None,
    ) -> WireContext:  # fmt: skip
        nonce = self.nonce
        return WireContext(
            nonce=nonce,
            secure=self.client.secure,
            rsa=self.rt.rsa,
            allow_insecure_cleartext=self.rt.config.server.allow_insecure_cleartext,
            fast_auth=lambda token: digest is not None and check_sha2_token(token, nonce, digest),
            fast_digest=digest,
            ask=exchange.ask_from_thread,
            peer_uid=self.client.uid,
            gss=cast(GssService | None, self.rt.backends.get("kerberos")),
            client_plugin=client_plugin,
        )

    async def _verify(
        self, credential: Credential, row: AccountRow, deadline: asyncio.Timeout | None
    ) -> Identity:
        """The backend's verdict. The handshake deadline is the client's time: while the
        bridge waits on a backend it stops, and the backend's budget bounds the wait
        (bridge/budget.py), so a hung server is an outage (1045), not a lost connection."""
        backend = self.rt.backends[PLUGINS[row.plugin].backend]
        if not isinstance(credential, backend.accepts):
            raise Denied(f"{backend.name} cannot check a {type(credential).__name__}")
        budget = backend_budget(self.rt.config.backends, backend.name)
        verdict = backend.verify(credential, self.user, row, self.client.peer)
        try:
            return await wait_on_backend(verdict, deadline, budget, backend.name)
        except (Denied, BackendUnavailable, ConnectionError, ssl.SSLError, ProtocolError):
            raise  # a verdict, or the client (asked a question by PAM) went away or misspoke
        except TimeoutError:
            raise  # the handshake's deadline
        except Exception as exc:  # a backend bug or a library's surprise: an outage
            self.log.debug("backend %s raised", backend.name, exc_info=True)
            raise BackendUnavailable(f"{backend.name} failed: {type(exc).__name__}") from None

    def _resolve(self, row: AccountRow, identity: Identity) -> Decision:
        """MySQL's proxy-user rules: which account this identity becomes, or Denied."""
        outcome = resolve(self.rt, row, identity.groups, identity.authenticated_as)
        if outcome.verdict is Verdict.DENIED:
            raise Denied(outcome.reason)
        # Verdict.NO_CREDENTIALS: the client authenticated; the upstream request answers 3169.
        return outcome.decision

    def _log_denied(
        self, user: str, row: AccountRow, method: str, reason: str, started: float
    ) -> None:
        self.log.info(
            "access denied: user=%r row=%s method=%s reason=%s after %.1f ms",
            user, row.source if row.source == "decoy" else row.account, method, reason,
            (time.monotonic() - started) * 1000,
        )  # fmt: skip
