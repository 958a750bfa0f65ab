"""One client connection, driven through the flow in docs/architecture.md:

greeting -> [SSLRequest -> TLS] -> HandshakeResponse41 -> authentication (account row,
wire method, backend, proxy user: bridge/authenticate.py) -> upstream login as the account
-> OK -> relay, with COM_CHANGE_USER and KILL handed back (bridge/change_user.py).

A session sees only its SessionContext (bridge/context.py), never the server."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any, Literal

from bridge.attempts import Attempts
from bridge.audit import Attempt
from bridge.auth_io import PacketIO
from bridge.authenticate import Authenticator, Client, new_nonce
from bridge.backends.base import Peer, Transport
from bridge.change_user import ChangeUserHandler
from bridge.context import SessionContext
from bridge.decision import Authenticated
from bridge.errors import (
    AccessDenied,
    BadHandshake,
    BridgeError,
    PacketsOutOfOrderError,
    PacketTooLargeError,
    SecureTransportRequired,
    bounded_name,
    client_charset,
)
from bridge.mapping.hosts import ClientHost, client_host
from bridge.netio import Conn, ConnectionClosed, peer_uid
from bridge.protocol.charsets import charset_name
from bridge.protocol.constants import REQUIRED_FROM_CLIENT, Command, ServerStatus
from bridge.protocol.errors import PacketsOutOfOrder, PacketTooLarge, ProtocolError
from bridge.protocol.framing import Packet
from bridge.protocol.packets import (
    HandshakeResponse41,
    HandshakeV10,
    build_handshake_v10,
    encode_attrs_block,
    err_has_sqlstate,
    is_ssl_request,
    parse_handshake_response41,
    parse_ssl_request,
)
from bridge.protocol.proxy_header import take_header
from bridge.upstream import init_sql, privileges
from bridge.upstream.kill import KillTranslator
from bridge.upstream.login import (
    LoginRequest,
    UpstreamError,
    UpstreamSession,
    login,
    upstream_capabilities,
)
from bridge.upstream.pool import PoolKey, close_upstream
from bridge.upstream.relay import OutOfStep, Relay
from bridge.upstream.request import (
    Origin,
    init_statements,
    login_request,
    upstream_failure,
)

log = logging.getLogger("bridge.session")

# mysqld refuses a connection-attributes block over 64 KiB as a bad handshake.
MAX_ATTRS_BLOCK = 65535
# A held query (a possible KILL) is read whole up to 4 KiB, a longer one streams on; one the
# bridge refuses is dropped as it comes, up to this (then 1153, as over max_allowed_packet).
HELD_QUERY_LIMIT = 1 << 30


class SessionLog(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"conn={self.extra['conn'] if self.extra else '?'} {msg}", kwargs


class Session:
    def __init__(
        self, ctx: SessionContext, conn: Conn, kind: Literal["tcp", "socket"], conn_id: int
    ) -> None:
        self.ctx = ctx
        self.rt = ctx.runtime  # one config for the whole handshake
        self.conn = conn
        conn.read_limit = self.rt.config.server.read_buffer_limit
        self.slot: str | None = None  # the source address whose handshake slot this holds
        self.slot_authenticated = False
        self.kind = kind
        self.id = conn_id
        self.started = time.time()  # for the admin interface's `sessions`
        self.io = PacketIO(conn, self.rt.config.server.max_handshake_packet)
        self.client_caps = 0
        self.upstream: UpstreamSession | None = None
        self.current: Authenticated | None = None
        self.attempts = Attempts(ctx.audit, ctx.metrics)
        self.log = SessionLog(log, {"conn": conn_id})
        peer = conn.transport.get_extra_info("peername") if conn.transport else None
        ip = peer[0] if kind == "tcp" and isinstance(peer, tuple) else None
        self._set_host(client_host(ip, not self.rt.config.server.skip_name_resolve))
        self.peer_uid = peer_uid(conn) if kind == "socket" else None
        self.auth: Authenticator | None = None  # once the client has said hello
        self.relay: Relay | None = None
        self._pool_generation = -1  # the pool's, when the upstream connection was obtained
        self._upstream_bytes_before = 0  # a pooled connection has carried others' bytes

    @property
    def attempt_user(self) -> str:
        """The user name of the login under way (before it is authenticated)."""
        return self.auth.user if self.auth is not None else ""

    # --- the flow ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._serve()
        except BridgeError as exc:
            if not isinstance(exc, AccessDenied) and not exc.logged:
                self.log.info("refused: %s", exc.log_reason)
            self.attempts.finish(exc)
            self.io.send_error(exc)
        except ProtocolError as exc:
            self._refuse_malformed(exc)
        except OutOfStep as exc:
            self.log.warning("connection closed: a command the bridge answers itself was "
                             "pipelined behind others, and %s", exc)  # fmt: skip
            self.attempts.finish(f"out of step: {exc}")
        except TimeoutError:
            what = "handshake" if self.upstream is None else "COM_CHANGE_USER"
            self.log.info("%s not finished in time: connection closed", what)
            self.attempts.finish("connect_timeout" if self.upstream is None else "timeout")
        except (ConnectionClosed, ConnectionError, ssl.SSLError) as exc:
            self.log.debug("connection ended: %r", exc)
            self.attempts.finish(f"connection ended: {exc!r}")
        except Exception as exc:  # the boundary: one line, a clean close, never a traceback
            self.log.warning("internal error, connection closed: %s", type(exc).__name__)
            self.log.debug("internal error", exc_info=True)
            self.attempts.finish(f"internal error: {type(exc).__name__}")
        finally:
            self._close()

    def _close(self) -> None:
        self.ctx.registry.remove(self.id)
        self.ctx.release_slot(self.slot, self.slot_authenticated)
        self.slot_authenticated = False
        self.conn.close()
        to_upstream = 0
        if self.upstream is not None:
            to_upstream = self.upstream.conn.bytes_out - self._upstream_bytes_before
            self._end_upstream()
        self.ctx.metrics.relayed(self.conn.bytes_out, to_upstream)

    def _refuse_malformed(self, exc: ProtocolError) -> None:
        """Bad handshake (1043) before login, as mysqld; after it, as mysqld answers a
        command: a packet over the limit (a COM_CHANGE_USER) is 1153, one out of sequence
        1156, and the answer to a command the relay could not read has sequence id 1."""
        self.log.info("bad handshake: %s" if self.upstream is None else "refused: %s", exc)
        error = self._malformed_error(exc)
        if self.relay is not None and self.relay.reading_command:
            self.io.seq = 1  # the answer to a command that began at sequence id 0
        self.attempts.finish(error)
        self.io.send_error(error)

    def _malformed_error(self, exc: ProtocolError) -> BridgeError:
        if self.upstream is not None and isinstance(exc, PacketTooLarge):
            return PacketTooLargeError(str(exc))
        if self.upstream is not None and isinstance(exc, PacketsOutOfOrder):
            return PacketsOutOfOrderError(str(exc))
        return BadHandshake(str(exc))

    async def _serve(self) -> None:
        # The handshake's packets go out when the bridge waits for the client's answer, or
        # with the OK: a fast-auth result and the OK that follows it share one write.
        self.conn.hold_writes()
        timeout = self.rt.config.server.connect_timeout
        async with asyncio.timeout(timeout) as deadline:
            await self._proxy_header()
            hello, nonce = await self._handshake()
            self.auth = Authenticator(self.ctx, self.rt, self.io, self.attempts, self.log,
                                      self._client(), nonce)  # fmt: skip
            self.start_attempt("login", hello.user)
            client_plugin = hello.auth_plugin or "mysql_native_password"
            self.current = await self.auth.authenticate(
                hello.user, client_plugin, hello.auth_response, deadline
            )
        self._promote_slot()
        self.upstream = await self._open_upstream(self.current, hello)
        self.attempts.finish(None)  # the record exists before the client can go on
        self.io.send(self.upstream.ok_payload)
        self.conn.release_writes()
        if self.log.isEnabledFor(logging.INFO):
            self.log.info("session open: %s", self.describe(self.current))
        await self._relay(self.upstream, self.auth)

    async def _relay(self, upstream: UpstreamSession, auth: Authenticator) -> None:
        server = self.rt.config.server

        async def held(packet: Packet) -> None:
            command = packet.payload[0]
            if command == Command.COM_CHANGE_USER:
                await relay.settle()  # the answers to the client's earlier commands first
                before = self.current
                await change_user.handle(packet)
                relay.note_idle()  # the bridge's own exchange upstream, if any, is over
                if self.current is not before:
                    self._register(kill, upstream)
            elif command == Command.COM_PROCESS_KILL:
                await kill.process_kill(packet)
            else:
                await kill.query(packet)

        relay = Relay(self.conn, upstream.conn, held, HELD_QUERY_LIMIT,
                      server.max_handshake_packet, server.change_user_timeout,
                      upstream.capabilities, server.change_user_timeout)  # fmt: skip

        # What the bridge answers itself goes out after the answers to every command the
        # client sent before it (relay.settle), as mysqld answers in order.
        async def may_kill_others() -> bool:
            try:
                return await privileges.may_kill_others(upstream, server.change_user_timeout)
            except ProtocolError as exc:
                raise OutOfStep(str(exc)) from None
            finally:
                relay.note_idle()  # the question's answer is read: nothing under way

        kill = KillTranslator(self.ctx.registry, self.conn, upstream.conn, self.log,
                              self.ctx.remote_session, relay.settle, may_kill_others)  # fmt: skip
        relay.on_long_query = kill.long_query
        self._register(kill, upstream)
        change_user = ChangeUserHandler(self, auth)
        self.relay = relay
        await relay.run()

    def _register(self, kill: KillTranslator, upstream: UpstreamSession) -> None:
        """In the KILL registry, with who owns the session now (the login user name, as
        mysqld's USER(), and the name the backend proved)."""
        assert self.current is not None and self.auth is not None
        owner = self.ctx.registry.owner(self.auth.user, self.current.identity.name)
        kill.became(owner)
        if not self.ctx.registry.add(self.id, upstream.greeting.connection_id, owner):
            self.log.warning("session registry full: KILL %d will not find this session", self.id)

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

    async def _handshake(self) -> tuple[HandshakeResponse41, bytes]:
        """The greeting (with its nonce), TLS if asked for, and the client's answer."""
        nonce = new_nonce()
        greeting = self._greeting(nonce)
        self.io.send(build_handshake_v10(greeting))
        packet = await self._handshake_packet()
        if is_ssl_request(packet.payload):
            await self._upgrade_tls(packet)
            packet = await self._handshake_packet()
        hello = parse_handshake_response41(packet.payload, greeting.charset)
        if hello.capabilities & REQUIRED_FROM_CLIENT != REQUIRED_FROM_CLIENT:
            raise ProtocolError("client does not speak the 4.1 protocol with secure connection")
        self.client_caps = hello.capabilities & greeting.capabilities
        client_charset(hello.charset, greeting.charset)  # 1231 for ucs2, utf16(le), utf32
        self.io.charset = charset_name(hello.charset, greeting.charset)  # of its errors
        if len(hello.attrs_block or encode_attrs_block(hello.attrs)) > MAX_ATTRS_BLOCK:
            raise ProtocolError("connection attributes over 64 KiB")
        self._check_secure_transport()
        return hello, nonce

    async def _handshake_packet(self) -> Packet:
        """The client's SSLRequest or HandshakeResponse; a refusal of it is worded for the
        protocol the client announced in it (no SQLSTATE for a pre-4.1 client)."""
        packet = await self.io.read()
        self.io.protocol_41 = err_has_sqlstate(packet.payload)
        return packet

    def _greeting(self, nonce: bytes) -> HandshakeV10:
        profile = self.ctx.profile
        caps = self.ctx.client_capabilities(tls=self.rt.tls is not None)
        return HandshakeV10(
            profile.server_version, self.id, nonce, caps, profile.charset,
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

    def _promote_slot(self) -> None:
        """The handshake slot becomes a session slot, or ERROR 1040."""
        self.ctx.promote_slot(self.slot)
        self.slot_authenticated = True

    async def _open_upstream(
        self, auth: Authenticated, hello: HandshakeResponse41
    ) -> UpstreamSession:
        request = login_request(auth, self.origin, hello, self.rt.credentials, self.client_caps)
        pool = self.ctx.pool
        try:
            session = await self._pooled(request)
            session = session or await login(self.rt.upstream, request)
        except UpstreamError as exc:
            raise upstream_failure(exc, auth.upstream_user, self.log) from None
        self._upstream_bytes_before = session.conn.bytes_out
        try:
            # The account itself, not another row (bridge/upstream/whoami.py): asked on
            # its first login only, or again once a connection came back as another.
            accounts = pool.account_check(self._pool_generation)
            await accounts.confirm(session, auth.upstream_user, pool.timeout)
            await init_sql.run(session.conn, init_statements(auth, self.origin))
        except UpstreamError as exc:
            close_upstream(session)
            raise upstream_failure(exc, auth.upstream_user, self.log) from None
        self.ctx.learn_profile(session.greeting)
        return session

    # --- the pool of upstream connections (bridge/upstream/pool.py) --------------------------

    async def _pooled(self, request: LoginRequest) -> UpstreamSession | None:
        """A kept upstream connection for this account, re-identified as this client."""
        pool = self.ctx.pool
        self._pool_generation = pool.generation
        caps = upstream_capabilities(self.client_caps, self.ctx.profile.capabilities, None)
        key = PoolKey.of(request.user, request.password, caps)
        return await pool.checkout(key, request)

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
        self.ctx.pool.give_back(key, self.upstream, self._pool_generation)

    # --- small helpers ----------------------------------------------------------------------

    def start_attempt(self, event: str, user: str) -> None:
        """An audit record for a login or COM_CHANGE_USER, filled in as it goes."""
        name = self.host.name if self.host.name != self.client_address else None
        shown = bounded_name(user, self.rt.config.server.max_user_name_length)
        transport = self.peer.transport
        self.attempts.start(Attempt(event, self.id, self.client_address, transport, shown, name))

    def _client(self) -> Client:
        return Client(self.host, self.client_address, self.peer, self.secure, self.peer_uid,
                      self.client_caps)  # fmt: skip

    def _set_host(self, host: ClientHost) -> None:
        self.host = host
        self.client_address = str(host.ip) if host.ip is not None else "localhost"

    @property
    def pool_generation(self) -> int:
        """The pool's generation when the upstream connection was obtained."""
        return self._pool_generation

    @property
    def origin(self) -> Origin:
        return Origin(self.client_address, self.peer.transport, self.id)

    @property
    def secure(self) -> bool:
        return self.kind == "socket" or self.conn.tls_active

    @property
    def peer(self) -> Peer:
        """Who is connecting and how; fixed once the handshake has settled TLS."""
        transport: Transport = "tls" if self.conn.tls_active else self.kind
        return Peer(self.host, transport)

    def describe(self, auth: Authenticated) -> str:
        name = self.host.name
        client = self.client_address
        if name is not None and name != client:
            client = f"{client} ({name})"  # the address and the name: as in the audit record
        return (
            f"user={auth.identity.name!r} row={auth.row.account} method={auth.wire_method} "
            f"backend={auth.identity.source} upstream_account={auth.upstream_user!r} "
            f"transport={self.peer.transport} client={client}"
        )
