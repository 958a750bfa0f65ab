"""One client connection, driven through the flow in ARCHITECTURE.md:

greeting -> [SSLRequest -> TLS] -> HandshakeResponse41 -> account row -> wire method
-> backend -> upstream login as the account -> OK -> relay (COM_CHANGE_USER re-enters).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from bridge.audit import Attempt
from bridge.backends.base import Identity, Peer, Transport
from bridge.credentials import Credential
from bridge.decision import Verdict, choose, resolve
from bridge.errors import (
    AccessDenied,
    AccessDeniedNoPassword,
    AccountBlocked,
    BackendUnavailable,
    BadHandshake,
    BridgeError,
    Denied,
    MustChangePassword,
    NotSupportedAuthMode,
    PacketTooLargeError,
    PasswordChangeRequired,
    SecureTransportRequired,
    UnknownCommand,
    UpstreamCredentialsRefused,
    UpstreamRefusal,
    UpstreamUnavailable,
    bounded_name,
)
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import ClientHost, client_host
from bridge.mapping.proxy import Decision
from bridge.mapping.templates import render
from bridge.netio import Conn, ConnectionClosed
from bridge.plugins import PLUGINS, PluginSpec
from bridge.protocol.constants import (
    REQUIRED_FROM_CLIENT,
    SCRAMBLE_LENGTH,
    Capability,
    Command,
    ServerStatus,
)
from bridge.protocol.errors import PacketTooLarge, ProtocolError
from bridge.protocol.framing import Packet
from bridge.protocol.packets import (
    AuthSwitchRequest,
    ChangeUser,
    HandshakeResponse41,
    HandshakeV10,
    build_auth_more_data,
    build_auth_switch_request,
    build_err,
    build_handshake_v10,
    encode_attrs_block,
    is_ssl_request,
    parse_change_user,
    parse_handshake_response41,
    parse_ssl_request,
)
from bridge.protocol.proxy_header import take_header
from bridge.upstream import init_sql
from bridge.upstream.kill import KillTranslator
from bridge.upstream.login import (
    LoginRequest,
    UpstreamError,
    UpstreamSession,
    change_user,
    login,
    upstream_capabilities,
)
from bridge.upstream.pool import PoolKey, close_upstream
from bridge.upstream.relay import Relay
from bridge.wire import WIRE_METHODS, Send, WireContext, WireMethod, WireRun
from bridge.wire.base import GssService, is_empty_answer

if TYPE_CHECKING:
    from bridge.server import BridgeServer

log = logging.getLogger("bridge.session")

# A refused COM_CHANGE_USER answers ERR and leaves the session as it was.
CHANGE_USER_REFUSALS = (
    AccessDenied,
    AccessDeniedNoPassword,
    AccountBlocked,
    MustChangePassword,
    SecureTransportRequired,
    NotSupportedAuthMode,
)
# Refusals of the person, audited as "denied" (the others are "error").
DENIALS = (AccessDenied, AccessDeniedNoPassword, AccountBlocked, MustChangePassword)
# Upstream errors that concern the client's own request, passed through as they are:
# too many connections, no access to / unknown / invalid database, connection limits, and
# a character set that cannot be a client's (ucs2, utf16, utf32: 1231).
CLIENT_FACING_UPSTREAM_ERRORS = frozenset({1040, 1044, 1049, 1102, 1203, 1226, 1231})
# Upstream errors that refuse the bridge's own credentials for the proxied account.
CREDENTIAL_REFUSALS = frozenset({1045, 1251, 1698, 1820, 1862, 3118, 4151})
# mysqld refuses a connection-attributes block over 64 KiB as a bad handshake.
MAX_ATTRS_BLOCK = 65535


# Random byte -> scramble byte, as mysqld makes it: 7 bits, and never NUL or '$'.
_NONCE_BYTES = bytes((b & 0x7F) + 1 if (b & 0x7F) in (0, 0x24) else b & 0x7F for b in range(256))


def peer_uid(conn: Conn) -> int | None:
    """SO_PEERCRED: the uid of the process at the other end of a Unix socket."""
    sock = conn.transport.get_extra_info("socket") if conn.transport else None
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    uid: int = struct.unpack("3i", raw)[1]
    return uid


def new_nonce() -> bytes:
    return os.urandom(SCRAMBLE_LENGTH).translate(_NONCE_BYTES)


@dataclass(frozen=True)
class Authenticated:
    row: AccountRow
    identity: Identity
    wire_method: str
    decision: Decision  # the account the session becomes

    @property
    def upstream_user(self) -> str:
        assert self.decision.user is not None
        return self.decision.user


def _without_bridge_keys(attrs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in attrs if not k.startswith("bridge_"))


class SessionLog(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"conn={self.extra['conn'] if self.extra else '?'} {msg}", kwargs


class Session:
    def __init__(
        self, server: BridgeServer, conn: Conn, kind: Literal["tcp", "socket"], conn_id: int
    ) -> None:
        self.server = server
        self.rt = server.runtime  # one config for the whole handshake
        self.conn = conn
        conn.read_limit = self.rt.config.server.read_buffer_limit
        self.slot: str | None = None  # the source address whose handshake slot this holds
        self.slot_authenticated = False
        self.kind = kind
        self.id = conn_id
        self.started = time.time()  # for the admin interface's `sessions`
        self.seq = 0
        self.client_caps = 0
        self.upstream: UpstreamSession | None = None
        self.current: Authenticated | None = None
        self.change_user_failures = 0
        self.used_password = False
        self.attempt: Attempt | None = None
        self.log = SessionLog(log, {"conn": conn_id})
        peer = conn.transport.get_extra_info("peername") if conn.transport else None
        ip = peer[0] if kind == "tcp" and isinstance(peer, tuple) else None
        self._set_host(client_host(ip, not self.rt.config.server.skip_name_resolve))
        self._peer: Peer | None = None
        self.peer_uid = peer_uid(conn) if kind == "socket" else None
        self._user = ""  # the user name of the attempt under way
        self._pending_switch: str | None = None  # a method whose switch rides its first packet
        self._deadline: asyncio.Timeout | None = None
        self.relay: Relay | None = None
        self._pool_generation = -1  # the pool's, when the upstream connection was obtained
        self._upstream_bytes_before = 0  # a pooled connection has carried others' bytes

    @property
    def attempt_user(self) -> str:
        """The user name of the login under way (before it is authenticated)."""
        return self._user

    # --- the flow ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._serve()
        except BridgeError as exc:
            if not isinstance(exc, AccessDenied) and not exc.logged:
                self.log.info("refused: %s", exc.log_reason)
            self._finish_attempt(exc)
            self._send_error(exc)
        except ProtocolError as exc:
            self._refuse_malformed(exc)
        except TimeoutError:
            what = "handshake" if self.upstream is None else "COM_CHANGE_USER"
            self.log.info("%s not finished in time: connection closed", what)
            self._finish_attempt("connect_timeout" if self.upstream is None else "timeout")
        except (ConnectionClosed, ConnectionError, ssl.SSLError) as exc:
            self.log.debug("connection ended: %r", exc)
            self._finish_attempt(f"connection ended: {exc!r}")
        except Exception as exc:  # the boundary: one line, a clean close, never a traceback
            self.log.warning("internal error, connection closed: %s", type(exc).__name__)
            self.log.debug("internal error", exc_info=True)
            self._finish_attempt(f"internal error: {type(exc).__name__}")
        finally:
            self.server.registry.remove(self.id)
            self.server.release_slot(self)
            self.conn.close()
            to_upstream = 0
            if self.upstream is not None:
                to_upstream = self.upstream.conn.bytes_out - self._upstream_bytes_before
                self._end_upstream()
            self.server.metrics.relayed(self.conn.bytes_out, to_upstream)

    def _refuse_malformed(self, exc: ProtocolError) -> None:
        """Bad handshake (1043) before login, as mysqld; a packet over the limit after it
        (a COM_CHANGE_USER) is 1153, as mysqld answers one over max_allowed_packet."""
        self.log.info("bad handshake: %s" if self.upstream is None else "refused: %s", exc)
        too_large = isinstance(exc, PacketTooLarge) and self.upstream is not None
        error = PacketTooLargeError(str(exc)) if too_large else BadHandshake(str(exc))
        if too_large:
            self.seq = 1  # the answer to a command that began at sequence id 0
        self._finish_attempt(error)
        self._send_error(error)

    async def _serve(self) -> None:
        async with asyncio.timeout(self.rt.config.server.connect_timeout) as self._deadline:
            await self._proxy_header()
            hello = await self._handshake()
            self.attempt = self._new_attempt("login", hello.user)
            client_plugin = hello.auth_plugin or "mysql_native_password"
            self.current = await self._authenticate(hello.user, client_plugin, hello.auth_response)
        self.server.promote_slot(self)  # a session slot now, or 1040
        self.upstream = await self._open_upstream(self.current, hello)
        self._finish_attempt(None)  # the record exists before the client can go on
        self._send(self.upstream.ok_payload)
        if self.log.isEnabledFor(logging.INFO):
            self.log.info("session open: %s", self._describe(self.current))
        self._kill = KillTranslator(self.server.registry, self.conn, self.upstream.conn, self.log)
        if not self.server.registry.add(self.id, self.upstream.greeting.connection_id):
            self.log.warning("session registry full: KILL %d will not find this session", self.id)
        server = self.rt.config.server
        self.relay = Relay(self.conn, self.upstream.conn, self._held_command, self._max_packet,
                           server.max_handshake_packet, server.change_user_timeout)  # fmt: skip
        await self.relay.run()

    # --- steps ------------------------------------------------------------------------------

    async def _proxy_header(self) -> None:
        """From a trusted load balancer, a PROXY header names the real client first."""
        if self.host.ip is None or not self.rt.config.listen.trusts_proxy(str(self.host.ip)):
            return
        found = await self.conn.read_with(take_header)
        if found.source is not None:
            resolve = not self.rt.config.server.skip_name_resolve
            self._set_host(client_host(found.source, resolve))
            self.log.debug("client %s, by the PROXY header", found.source)

    async def _handshake(self) -> HandshakeResponse41:
        self.nonce = new_nonce()
        greeting = self._greeting()
        self._send(build_handshake_v10(greeting))
        packet = await self._read()
        if is_ssl_request(packet.payload):
            await self._upgrade_tls(packet)
            packet = await self._read()
        hello = parse_handshake_response41(packet.payload)
        if hello.capabilities & REQUIRED_FROM_CLIENT != REQUIRED_FROM_CLIENT:
            raise ProtocolError("client does not speak the 4.1 protocol with secure connection")
        self.client_caps = hello.capabilities & greeting.capabilities
        if len(hello.attrs_block or encode_attrs_block(hello.attrs)) > MAX_ATTRS_BLOCK:
            raise ProtocolError("connection attributes over 64 KiB")
        self._check_secure_transport()
        return hello

    def _greeting(self) -> HandshakeV10:
        profile = self.server.profile
        caps = self.server.client_capabilities(tls=self.rt.tls is not None)
        return HandshakeV10(
            profile.server_version, self.id, self.nonce, caps, profile.charset,
            ServerStatus.SERVER_STATUS_AUTOCOMMIT, self.rt.config.server.default_auth_plugin,
        )  # fmt: skip

    async def _upgrade_tls(self, packet: Packet) -> None:
        if self.rt.tls is None:
            raise ProtocolError("SSLRequest, but TLS is not configured")
        parse_ssl_request(packet.payload)
        await self.conn.start_tls(self.rt.tls, server_side=True)

    def _check_secure_transport(self) -> None:
        if self.rt.config.tls and self.rt.config.tls.require_secure_transport and not self.secure:
            raise SecureTransportRequired(
                SecureTransportRequired.REQUIRE_SECURE_TRANSPORT, "TLS required, client sent none"
            )

    async def _authenticate(
        self, user: str, client_plugin: str | None, first: bytes, change_user: bool = False
    ) -> Authenticated:
        """Match the row, run its wire method (switching if the client started with another
        one), verify with its backend. On COM_CHANGE_USER, always switch (fresh nonce)."""
        started = time.monotonic()
        self._user = user
        self._refuse_long_name(user, first)
        await self._throttle(user)
        choice = choose(self.rt, user, self.host, client_plugin)
        row, decoy, spec = choice.row, choice.decoy, choice.spec
        method = WIRE_METHODS[choice.wire_method]
        self._note(row=row.source if decoy else row.account, wire_method=method.name,
                   backend=spec.backend)  # fmt: skip
        if change_user and not method.keeps_session_nonce:
            # libmariadb keeps the nonce of the last switch as the session's and answers a
            # later native switch from it (even after a refusal): so does the bridge.
            self.nonce = new_nonce()
        ctx = self._wire_context(row, self.nonce)
        self.used_password = not is_empty_answer(first)
        try:
            method.check_transport(ctx)
            switch = client_plugin != method.name or method.needs_switch(first)
            if switch and not method.no_switch:
                self._check_can_switch(method.name)
                if method.switch_on_first_send:
                    self._pending_switch, first = method.name, b""
                else:
                    first = await self._switch(method, ctx)
                    self.used_password = not is_empty_answer(first)
            credential = await self._drive(method.run(ctx, first))
            self.used_password = credential.used_password
            identity = await self._verify(credential, row)
            if decoy:
                raise Denied("no account matches")
            self._note(identity=identity.name, groups=identity.groups)
            decision = self._resolve(row, identity)
        except Denied as exc:
            reason = "no account matches" if decoy else exc.reason
            self._log_denied(user, row, method.name, reason, started)
            self.server.throttle.failure(user, self._client_address, exc.resolved)
            if isinstance(exc, PasswordChangeRequired) and not decoy:
                raise MustChangePassword(reason) from None
            raise self._denial(spec, reason) from None
        except BackendUnavailable as exc:
            self.log.warning("backend outage for %r: %s", user, exc)
            self.server.metrics.backend_outages.labels(spec.backend).inc()
            raise self._denial(spec, f"backend unavailable: {exc}") from None
        finally:
            self._pending_switch = None
        self._note(proxied_account=decision.account)
        self._check_resolved_lock(identity)
        self.server.throttle.success(user, self._client_address, identity.resolved_names)
        return Authenticated(row, identity, method.name, decision)

    def _check_can_switch(self, method: str) -> None:
        """A client without CLIENT_PLUGIN_AUTH cannot follow an AuthSwitchRequest: mysqld
        answers ER_NOT_SUPPORTED_AUTH_MODE instead of sending one."""
        if not self.client_caps & Capability.CLIENT_PLUGIN_AUTH:
            raise NotSupportedAuthMode(f"client cannot switch to {method} (no CLIENT_PLUGIN_AUTH)")

    def _refuse_long_name(self, user: str, first: bytes) -> None:
        """Longer than any account name can be: refused up front, as a wrong password."""
        limit = self.rt.config.server.max_user_name_length
        if len(user) <= limit:
            return
        self.used_password = not is_empty_answer(first)
        self.log.info("access denied: user=%r... reason=user name longer than %d characters",
                      user[:limit], limit)  # fmt: skip
        self.server.throttle.failure(user, self._client_address)
        raise AccessDenied(user, self.host.display, self.used_password,
                           f"user name longer than {limit} characters")  # fmt: skip

    def _check_resolved_lock(self, identity: Identity) -> None:
        """The name the backend resolved may be locked under another spelling."""
        locked = self.server.throttle.locked(self._user, self._client_address,
                                             identity.resolved_names)  # fmt: skip
        if locked is not None:
            lock = self.rt.config.protection.lock_time
            raise AccountBlocked(self._user, self.host.display, lock, *locked)

    async def _throttle(self, user: str) -> None:
        """A lock refuses at once (ERROR 3955, whatever the password); a delay is served here,
        on the event loop, with the handshake deadline moved by as much."""
        throttle, address = self.server.throttle, self._client_address
        locked = throttle.locked(user, address)
        if locked is not None:
            lock = self.rt.config.protection.lock_time
            raise AccountBlocked(user, self.host.display, lock, *locked)
        delay = throttle.delay(user, address)
        if delay:
            self.log.info("delaying %r from %s by %.1f s after failed logins", user, address, delay)
            if self._deadline is not None and self._deadline.when() is not None:
                self._deadline.reschedule(self._deadline.when() + delay)  # type: ignore[operator]
            await asyncio.sleep(delay)

    def _denial(self, spec: PluginSpec, reason: str) -> BridgeError:
        if not spec.mentions_password:
            return AccessDeniedNoPassword(self._user, self.host.display, reason)
        return AccessDenied(self._user, self.host.display, self.used_password, reason)

    def _wire_context(self, row: AccountRow, nonce: bytes) -> WireContext:
        store = self.rt.store
        return WireContext(
            nonce=nonce,
            secure=self.secure,
            rsa=self.rt.rsa,
            allow_insecure_cleartext=self.rt.config.server.allow_insecure_cleartext,
            fast_auth=lambda token: store.fast_auth_ok(row, nonce, token),
            ask=self._ask,
            peer_uid=self.peer_uid,
            gss=cast(GssService | None, self.rt.backends.get("kerberos")),
        )

    async def _ask(self, packet: bytes) -> bytes:
        """One dialog question to the client and its answer. The first one rides in the
        AuthSwitchRequest when the client has to switch. A person may be typing: each
        question extends the handshake deadline by the PAM timeout."""
        if self._deadline is not None and self.rt.config.backends.pam is not None:
            extended = asyncio.get_running_loop().time() + self.rt.config.backends.pam.timeout
            self._deadline.reschedule(max(extended, self._deadline.when() or 0))
        switched, self._pending_switch = self._pending_switch, None
        if switched is not None:
            self._send(build_auth_switch_request(AuthSwitchRequest(switched, packet)))
        else:
            self._send(build_auth_more_data(packet))
        try:
            answer = (await self._read()).payload
        except ConnectionClosed:
            if switched is not None:
                self.log.info(
                    "client hung up on the switch to %s: it cannot speak that method "
                    "(a client limit, not an outage)", switched,
                )  # fmt: skip
            raise
        self.used_password = True
        return answer

    async def _switch(self, method: WireMethod, ctx: WireContext) -> bytes:
        request = AuthSwitchRequest(method.name, method.switch_data(ctx))
        self._send(build_auth_switch_request(request))
        return (await self._read()).payload

    async def _drive(self, run: WireRun) -> Credential:
        """The only I/O a wire method gets: send its AuthMoreData, read the client's reply."""
        try:
            step = next(run)
            while True:
                if isinstance(step, Send):
                    self._send(build_auth_more_data(step.data))
                    step = next(run)
                else:
                    step = run.send((await self._read()).payload)
        except StopIteration as done:
            return cast(Credential, done.value)

    async def _verify(self, credential: Credential, row: AccountRow) -> Identity:
        backend = self.rt.backends[PLUGINS[row.plugin].backend]
        if not isinstance(credential, backend.accepts):
            raise Denied(f"{backend.name} cannot check a {type(credential).__name__}")
        try:
            return await backend.verify(credential, self._user, row, self.peer)
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
        # Verdict.NO_CREDENTIALS: the client authenticated; _upstream_password answers 3169.
        return outcome.decision

    async def _open_upstream(
        self, auth: Authenticated, hello: HandshakeResponse41
    ) -> UpstreamSession:
        request = LoginRequest(
            user=auth.upstream_user,
            password=self._upstream_password(auth.upstream_user),
            database=hello.database or None,
            charset=hello.charset,
            client_capabilities=self.client_caps,
            max_packet=hello.max_packet,
            attrs=self._bridge_attrs(auth),
            attrs_block=self._client_attrs(hello),
        )
        try:
            session = await self._pooled(request, auth, hello) or await login(
                self.rt.upstream, request
            )
            self._upstream_bytes_before = session.conn.bytes_out
            await init_sql.run(session.conn, self._init_statements(auth))
        except UpstreamError as exc:
            raise self._upstream_failure(exc, auth.upstream_user) from None
        self.server.learn_profile(session.greeting)
        return session

    # --- the pool of upstream connections (bridge/upstream/pool.py) --------------------------

    async def _pooled(
        self, request: LoginRequest, auth: Authenticated, hello: HandshakeResponse41
    ) -> UpstreamSession | None:
        """A kept upstream connection for this account, re-identified as this client."""
        pool = self.server.pool
        self._pool_generation = pool.generation
        caps = upstream_capabilities(self.client_caps, self.server.profile.capabilities, None)
        key = PoolKey.of(request.user, request.password, caps)
        return await pool.checkout(key, request, self._attrs(auth, hello.attrs))

    def _end_upstream(self) -> None:
        """Back to the pool if the client ended with COM_QUIT (the pool checks the rest),
        else closed."""
        assert self.upstream is not None
        if self.relay is None or not self.relay.quit:
            self.upstream.conn.close()  # the client went away, maybe in the middle of a command
            return
        password = self.rt.credentials.get(self.current.upstream_user) if self.current else None
        if password is None or self.current is None:
            close_upstream(self.upstream)  # the client's COM_QUIT, passed on
            return
        key = PoolKey.of(self.current.upstream_user, password, self.upstream.capabilities)
        self.server.pool.give_back(key, self.upstream, self._pool_generation)

    def _init_statements(self, auth: Authenticated) -> list[str]:
        if not auth.row.init_sql:
            return []
        values = {
            "user": auth.row.user if auth.row.user else auth.identity.name,
            "external_user": auth.identity.name,
            "groups": ",".join(auth.identity.groups),
            "proxy_account": auth.row.account,
            "account": auth.decision.account,
            "client_host": self._client_address,
            "transport": self.peer.transport,
        }
        return [render(template, values) for template in auth.row.init_sql]

    def _upstream_password(self, user: str) -> bytes:
        password = self.rt.credentials.get(user)
        if password is None:
            raise UpstreamUnavailable(f"no upstream credentials for account '{user}'")
        return password

    def _upstream_failure(self, exc: UpstreamError, account: str) -> BridgeError:
        """An ERR about the client's own request goes back as the upstream sent it; a
        refusal of the bridge's credentials or an outage is 3169, logged once here."""
        errno = exc.err.errno if exc.err is not None else None
        if errno in CLIENT_FACING_UPSTREAM_ERRORS:
            assert exc.err is not None
            self.log.info("upstream refused the client's request as %r: %s", account, exc)
            failure: BridgeError = UpstreamRefusal(exc.err)
        elif errno in CREDENTIAL_REFUSALS:
            self.log.warning(
                "upstream refused the bridge's credentials for account %r "
                "(check the upstream credentials file): %s", account, exc,
            )  # fmt: skip
            failure = UpstreamCredentialsRefused(account, f"bridge credentials refused: {exc}")
        else:
            self.log.warning("upstream login failed for account %r: %s", account, exc)
            failure = UpstreamUnavailable(str(exc))
        failure.logged = True
        return failure

    def _bridge_attrs(self, auth: Authenticated) -> tuple[tuple[str, str], ...]:
        """Who is behind the session, first in the upstream's connection attributes."""
        return (
            ("bridge_external_user", auth.identity.name),
            ("bridge_proxy_account", auth.row.account),
            ("bridge_client_host", self._client_address),
            ("bridge_transport", self.peer.transport),
            ("bridge_connection_id", str(self.id)),
        )

    def _attrs(self, auth: Authenticated, client_attrs: tuple[tuple[str, str], ...]) -> Any:
        return self._bridge_attrs(auth) + _without_bridge_keys(client_attrs)

    @staticmethod
    def _client_attrs(hello: HandshakeResponse41) -> bytes:
        """The client's attributes as they came, unless they need filtering (a client may not
        pose as the bridge) or did not parse cleanly: then re-encoded from what parsed."""
        if hello.attrs_block and b"bridge_" not in hello.attrs_block:
            return hello.attrs_block
        return encode_attrs_block(_without_bridge_keys(hello.attrs))

    # --- commands the relay hands over ------------------------------------------------------

    async def _held_command(self, packet: Packet) -> None:
        command = packet.payload[0]
        if command == Command.COM_CHANGE_USER:
            await self._change_user(packet)
        elif command == Command.COM_PROCESS_KILL:
            self._kill.process_kill(packet)
        else:
            self._kill.query(packet)

    # --- COM_CHANGE_USER ---------------------------------------------------------------------

    async def _change_user(self, packet: Packet) -> None:
        self.seq = (packet.last_seq + 1) & 0xFF
        if self.change_user_failures >= self.rt.config.server.max_change_user_failures:
            self._send_error(UnknownCommand())
            return
        request = parse_change_user(packet.payload, self.client_caps)
        self.attempt = self._new_attempt("change_user", request.user)
        try:
            async with asyncio.timeout(self.rt.config.server.change_user_timeout) as self._deadline:
                auth = await self._authenticate(*self._change_user_opening(request))
        except CHANGE_USER_REFUSALS as exc:
            self._refuse_change_user(exc)
            return
        ok = await self._change_upstream(auth, request)
        if isinstance(ok, BridgeError):  # the upstream said no and kept the session as it was
            self._refuse_change_user(ok)
            return
        self.current, self.change_user_failures = auth, 0
        self._finish_attempt(None)
        self._send(ok)
        if self.log.isEnabledFor(logging.INFO):
            self.log.info("changed user: %s", self._describe(auth))

    def _change_user_opening(self, request: ChangeUser) -> tuple[str, str | None, bytes, bool]:
        """What _authenticate starts from. A client with CLIENT_PLUGIN_AUTH gets a switch
        with a fresh nonce; one without it can only send a native scramble of the session's
        nonce in the request itself (and cannot follow a switch)."""
        if self.client_caps & Capability.CLIENT_PLUGIN_AUTH:
            return request.user, None, b"", True
        return request.user, "mysql_native_password", request.auth_response, False

    def _refuse_change_user(self, exc: BridgeError) -> None:
        self.change_user_failures += 1
        self._finish_attempt(exc)
        self._send_error(exc)

    async def _change_upstream(
        self, auth: Authenticated, request: ChangeUser
    ) -> bytes | BridgeError:
        """The upstream's OK payload, or the refusal to send when the upstream answered ERR
        (it then keeps the session as it was); raises when the upstream leg is lost."""
        assert self.upstream is not None
        password = self._upstream_password(auth.upstream_user)
        attrs = self._attrs(auth, request.attrs)
        request = ChangeUser(request.user, b"", request.database, request.charset, None, attrs)
        try:
            ok = await change_user(self.upstream, auth.upstream_user, password, request)
        except UpstreamError as exc:
            failure = self._upstream_failure(exc, auth.upstream_user)
            if exc.err is None:
                raise failure from None
            return failure
        try:
            await init_sql.run(self.upstream.conn, self._init_statements(auth))
        except UpstreamError as exc:  # the upstream is the new account now: end the session
            raise self._upstream_failure(exc, auth.upstream_user) from None
        return ok

    # --- the audit record ---------------------------------------------------------------------

    def _new_attempt(self, event: str, user: str) -> Attempt:
        name = self.host.name if self.host.name != self._client_address else None
        shown = bounded_name(user, self.rt.config.server.max_user_name_length)
        return Attempt(event, self.id, self._client_address, self.peer.transport, shown, name)

    def _note(self, **fields: Any) -> None:
        if self.attempt is not None:
            for name, value in fields.items():
                setattr(self.attempt, name, value)

    def _finish_attempt(self, failure: BridgeError | str | None) -> None:
        """Write the attempt under way: ok (no failure), denied, or error with the reason."""
        attempt, self.attempt = self.attempt, None
        if attempt is None:
            return
        if failure is None:
            attempt.result = "ok"
        elif isinstance(failure, BridgeError):
            denied = isinstance(failure, DENIALS)
            attempt.result, attempt.reason = ("denied" if denied else "error"), failure.log_reason
        else:
            attempt.reason = failure
        self.server.audit.write(attempt)
        self.server.metrics.login(
            attempt.result, attempt.wire_method or "none", attempt.backend or "none",
            time.monotonic() - attempt.started,
        )  # fmt: skip

    # --- small helpers ----------------------------------------------------------------------

    def _set_host(self, host: ClientHost) -> None:
        self.host = host
        self._client_address = str(host.ip) if host.ip is not None else "localhost"

    @property
    def _client_text(self) -> str:
        """The address, and the resolved name if any: as in the audit record."""
        name = self.host.name
        if name is None or name == self._client_address:
            return self._client_address
        return f"{self._client_address} ({name})"

    @property
    def secure(self) -> bool:
        return self.kind == "socket" or self.conn.tls_active

    @property
    def peer(self) -> Peer:
        """Who is connecting and how; fixed once the handshake has settled TLS."""
        if self._peer is None or (self.conn.tls_active and self._peer.transport != "tls"):
            transport: Transport = "tls" if self.conn.tls_active else self.kind
            self._peer = Peer(self.host, transport)
        return self._peer

    @property
    def _max_packet(self) -> int:
        return 1 << 30  # a held query (a possible KILL): as large as the upstream allows

    async def _read(self) -> Packet:
        packet = await self.conn.read_packet(self.rt.config.server.max_handshake_packet)
        if packet.seq != self.seq:
            raise ProtocolError(f"packet out of order: got {packet.seq}, expected {self.seq}")
        self.seq = (packet.last_seq + 1) & 0xFF
        return packet

    def _send(self, payload: bytes) -> None:
        self.seq = self.conn.send_packet(payload, self.seq)

    def _send_error(self, exc: BridgeError) -> None:
        self._send(build_err(exc.to_err()))

    def _describe(self, auth: Authenticated) -> str:
        return (
            f"user={auth.identity.name!r} row={auth.row.account} method={auth.wire_method} "
            f"backend={auth.identity.source} upstream_account={auth.upstream_user!r} "
            f"transport={self.peer.transport} client={self._client_text}"
        )

    def _log_denied(
        self, user: str, row: AccountRow, method: str, reason: str, started: float
    ) -> None:
        self.log.info(
            "access denied: user=%r row=%s method=%s reason=%s after %.1f ms",
            user, row.source if row.source == "decoy" else row.account, method, reason,
            (time.monotonic() - started) * 1000,
        )  # fmt: skip
