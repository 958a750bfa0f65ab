"""Logging in to the upstream server as the proxied account, and COM_CHANGE_USER there."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.config import UpstreamConfig, UpstreamTlsConfig, parse_address
from bridge.netio import Conn
from bridge.protocol.constants import (
    BRIDGE_HOP,
    PER_HOP,
    Capability,
    Marker,
)
from bridge.protocol.framing import Packet
from bridge.protocol.packets import (
    Attrs,
    ChangeUser,
    ErrPacket,
    HandshakeResponse41,
    HandshakeV10,
    SSLRequest,
    build_change_user,
    build_handshake_response41,
    build_ssl_request,
    parse_auth_switch_request,
    parse_err,
    parse_handshake_v10,
)
from bridge.upstream.client_auth import ClientPlugin, UpstreamAuthError, client_plugin
from bridge.upstream.tickets import SessionTicket

C = Capability
MAX_AUTH_PACKET = 1 << 20


class UpstreamError(Exception):
    """The upstream could not be reached or refused the login. The message is for the log;
    `err` is the upstream's ERR packet when it sent one."""

    def __init__(self, message: str, err: ErrPacket | None = None) -> None:
        super().__init__(message)
        self.err = err
        self.greeting: HandshakeV10 | None = None  # when the refusal came after one


@dataclass(frozen=True)
class UpstreamTarget:
    address: tuple[str, int] | str  # (host, port) or a Unix socket path
    tls: ssl.SSLContext | None
    tls_required: bool
    server_hostname: str | None
    connect_timeout: float
    ticket: SessionTicket = field(default_factory=SessionTicket, compare=False, repr=False)

    @property
    def secure_without_tls(self) -> bool:
        return isinstance(self.address, str)

    def describe(self) -> str:
        if isinstance(self.address, str):
            return self.address
        return f"{self.address[0]}:{self.address[1]}"


def tls_context(cfg: UpstreamTlsConfig) -> ssl.SSLContext | None:
    if cfg.mode == "disabled":
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cfg.mode in ("preferred", "required"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cafile=str(cfg.ca))
        ctx.check_hostname = cfg.mode == "verify_identity"
    if cfg.cert is not None:
        ctx.load_cert_chain(str(cfg.cert), str(cfg.key) if cfg.key else None)
    return ctx


def target_from_config(cfg: UpstreamConfig) -> UpstreamTarget:
    address = parse_address(cfg.address)
    hostname = None if isinstance(address, str) else address[0]
    return UpstreamTarget(
        address,
        tls_context(cfg.tls),
        cfg.tls.mode not in ("disabled", "preferred"),
        hostname,
        cfg.connect_timeout,
    )


@dataclass(slots=True)
class UpstreamSession:
    conn: Conn
    greeting: HandshakeV10
    capabilities: int  # what the bridge negotiated with the upstream
    ok_payload: bytes = b""
    charset: int = 0
    plugin: str = "mysql_native_password"
    secure: bool = False  # TLS or a Unix socket: clear-text answers are allowed


@dataclass(frozen=True)
class LoginRequest:
    user: str
    password: bytes = field(repr=False)
    database: str | None
    charset: int
    client_capabilities: int  # what the client negotiated with the bridge
    max_packet: int
    attrs: Attrs
    attrs_block: bytes = b""  # the client's own attributes, encoded as they came


async def open_connection(target: UpstreamTarget) -> tuple[Conn, HandshakeV10]:
    """Connect and read the greeting (also how the bridge learns the upstream's profile).
    The caller bounds the time it takes."""
    loop = asyncio.get_running_loop()
    try:
        if isinstance(target.address, str):
            _, conn = await loop.create_unix_connection(lambda: Conn(loop), target.address)
        else:
            _, conn = await loop.create_connection(lambda: Conn(loop), *target.address)
        packet = await conn.read_packet(MAX_AUTH_PACKET)
    except OSError as exc:
        raise UpstreamError(f"cannot connect to {target.describe()}: {exc!r}") from exc
    if packet.payload[:1] == bytes([Marker.ERR]):
        conn.close()
        raise UpstreamError(f"upstream greeting was an error: {parse_err(packet.payload)}")
    return conn, parse_handshake_v10(packet.payload)


def upstream_capabilities(client_caps: int, server_caps: int, database: str | None) -> int:
    """The client's session-relevant bits that the upstream supports, plus this hop's own."""
    caps = client_caps & ~PER_HOP & server_caps
    caps |= BRIDGE_HOP & server_caps
    if not database:
        caps &= ~C.CLIENT_CONNECT_WITH_DB
    return caps


async def probe(target: UpstreamTarget) -> HandshakeV10:
    """The upstream's greeting, without logging in."""
    try:
        async with asyncio.timeout(target.connect_timeout):
            conn, greeting = await open_connection(target)
    except TimeoutError as exc:
        raise UpstreamError(f"no greeting from {target.describe()} in time") from exc
    conn.close()
    return greeting


async def login(target: UpstreamTarget, req: LoginRequest) -> UpstreamSession:
    """Connect, log in as `req.user` and return the session, all within connect_timeout."""
    conn: Conn | None = None
    try:
        async with asyncio.timeout(target.connect_timeout):
            conn, greeting = await open_connection(target)
            try:
                return await _login(conn, greeting, target, req)
            except UpstreamError as exc:
                exc.greeting = greeting
                raise
    except TimeoutError as exc:
        raise UpstreamError(f"login to {target.describe()} timed out") from exc
    finally:
        if conn is not None and not conn.authenticated:
            conn.abort()


async def _login(
    conn: Conn, greeting: HandshakeV10, target: UpstreamTarget, req: LoginRequest
) -> UpstreamSession:
    caps = upstream_capabilities(req.client_capabilities, greeting.capabilities, req.database)
    seq = 1
    offered: ssl.SSLSession | None = None  # the TLS session offered to resume
    if target.tls is not None and greeting.capabilities & C.CLIENT_SSL:
        caps |= C.CLIENT_SSL
        seq = conn.send_packet(
            build_ssl_request(SSLRequest(caps, req.max_packet, req.charset)), seq
        )
        offered = target.ticket.offer()
        try:
            await conn.start_tls(
                target.tls, server_side=False, server_hostname=target.server_hostname,
                session=offered,
            )  # fmt: skip
        except (ssl.SSLError, ConnectionError) as exc:
            raise UpstreamError(f"TLS to {target.describe()} failed: {exc!r}") from exc
    elif target.tls_required:
        raise UpstreamError(f"{target.describe()} does not offer TLS, which the config requires")
    secure = conn.tls_active or target.secure_without_tls
    plugin_name = greeting.auth_plugin or "mysql_native_password"
    plugin = _plugin(plugin_name, req.password, greeting.scramble, secure)
    response = HandshakeResponse41(
        caps, req.max_packet, req.charset, req.user, plugin.first(),
        req.database, plugin_name, req.attrs, req.attrs_block,
    )  # fmt: skip
    seq = conn.send_packet(_encoded(build_handshake_response41, response, greeting.charset), seq)
    session = UpstreamSession(conn, greeting, caps, b"", req.charset, plugin_name, secure)
    session.ok_payload = await finish_auth(conn, plugin, req.password, secure)
    conn.authenticated = True
    target.ticket.learn(conn, offered)  # (TLS 1.3 tickets come before the first answer)
    return session


def _encoded(build: Callable[..., bytes], *args: object) -> bytes:
    """A login packet, whose names go in the session's character set (which mysqld decodes
    them from): an account name that set cannot hold is the DBA's to fix, not the client's."""
    try:
        return build(*args)
    except UnicodeEncodeError as exc:
        raise UpstreamError(
            "the account or database name cannot be sent in the client's character set "
            f"({exc.object[exc.start : exc.end]!r} is not in it): name upstream accounts in "
            "characters every client's set has"
        ) from exc


def _plugin(name: str, password: bytes, nonce: bytes, secure: bool) -> ClientPlugin:
    try:
        return client_plugin(name, password, nonce, secure)
    except UpstreamAuthError as exc:
        raise UpstreamError(str(exc)) from exc


async def expect_ok(conn: Conn, what: str, otherwise: str) -> None:
    """Read one answer that must be OK: an ERR raises UpstreamError("<what> failed: <errno>
    <message>"), anything else UpstreamError(otherwise)."""
    packet = await conn.read_packet(MAX_AUTH_PACKET)
    marker = packet.payload[:1]
    if marker == bytes([Marker.ERR]):
        err = parse_err(packet.payload)
        raise UpstreamError(f"{what} failed: {err.errno} {err.message}", err)
    if marker != bytes([Marker.OK]):
        raise UpstreamError(otherwise)


async def finish_auth(conn: Conn, plugin: ClientPlugin, password: bytes, secure: bool) -> bytes:
    """Answer AuthSwitchRequest and AuthMoreData until OK (returned) or ERR (raised)."""
    while True:
        packet: Packet = await conn.read_packet(MAX_AUTH_PACKET)
        marker = packet.payload[:1]
        reply: bytes | None
        if marker == bytes([Marker.OK]):
            return packet.payload
        if marker == bytes([Marker.ERR]):
            err = parse_err(packet.payload)
            raise UpstreamError(f"upstream refused the login: {err.errno} {err.message}", err)
        try:
            if marker == bytes([Marker.AUTH_SWITCH_REQUEST]):
                switch = parse_auth_switch_request(packet.payload)
                plugin = _plugin(switch.plugin, password, switch.data, secure)
                reply = plugin.first()
            elif marker == bytes([Marker.AUTH_MORE_DATA]):
                reply = plugin.more(packet.payload[1:])
            else:
                raise UpstreamError(f"unexpected packet 0x{packet.payload[:1].hex()} from upstream")
        except UpstreamAuthError as exc:
            raise UpstreamError(str(exc)) from exc
        if reply is not None:
            conn.send_packet(reply, packet.last_seq + 1)


async def change_user(
    session: UpstreamSession, user: str, password: bytes, request: ChangeUser
) -> bytes:
    """COM_CHANGE_USER upstream as `user`; returns the upstream's OK payload. A request
    that names no character set gets the server's own, as mysqld gives it one (it resets
    the session to its defaults before it reads the packet)."""
    secure = session.secure
    plugin = _plugin(session.plugin, password, session.greeting.scramble, secure)
    packet = ChangeUser(
        user, plugin.first(), request.database, request.charset or session.greeting.charset,
        session.plugin, request.attrs, request.attrs_block,
    )  # fmt: skip
    built = _encoded(build_change_user, packet, session.capabilities, session.greeting.charset)
    session.conn.send_packet(built, 0)
    ok = await finish_auth(session.conn, plugin, password, secure)
    session.charset = packet.charset or session.charset
    return ok
