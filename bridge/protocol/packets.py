"""parse_*/build_* pairs for the packets of the connection phase and COM_CHANGE_USER.

Each parser is commented field by field with byte widths; each raises ProtocolError on
malformed input and nothing else. Payloads here exclude the 4-byte packet header.
https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.protocol.charsets import decode_name, encode_message, encode_name
from bridge.protocol.codec import (
    Reader,
    decode_text,
    lenenc_bytes,
    lenenc_int,
    nul_bytes,
    uint_bytes,
)
from bridge.protocol.constants import (
    DEFAULT_CHARSET,
    LOWER_32,
    SCRAMBLE_LENGTH,
    Capability,
    Command,
    Marker,
)
from bridge.protocol.errors import ProtocolError

C = Capability
Attrs = tuple[tuple[str, str], ...]


def _split_caps(caps: int) -> tuple[int, int]:
    return caps & LOWER_32, caps >> 32


def _has_mariadb_ext(caps: int) -> bool:
    """MariaDB clears CLIENT_LONG_PASSWORD (its CLIENT_MYSQL) to announce extended caps."""
    return not caps & C.CLIENT_LONG_PASSWORD


# --- HandshakeV10 -------------------------------------------------------------------------
# https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html


@dataclass(frozen=True, slots=True)
class HandshakeV10:
    server_version: str
    connection_id: int
    scramble: bytes = field(repr=False)  # 20 bytes of auth-plugin-data
    capabilities: int
    charset: int
    status: int
    auth_plugin: str


def build_handshake_v10(h: HandshakeV10) -> bytes:
    lower, ext = _split_caps(h.capabilities)
    reserved = bytes(6) + (uint_bytes(ext, 4) if _has_mariadb_ext(lower) else bytes(4))
    return b"".join(
        [
            b"\x0a",  # int<1> protocol version
            nul_bytes(h.server_version.encode()),  # string<NUL> server version
            uint_bytes(h.connection_id, 4),  # int<4> thread id
            h.scramble[:8],  # string[8] auth-plugin-data-part-1
            b"\0",  # int<1> filler
            uint_bytes(lower & 0xFFFF, 2),  # int<2> capability flags, lower
            bytes([h.charset]),  # int<1> character set
            uint_bytes(h.status, 2),  # int<2> status flags
            uint_bytes(lower >> 16, 2),  # int<2> capability flags, upper
            bytes([len(h.scramble) + 1]),  # int<1> auth_plugin_data_len
            reserved,  # string[10] reserved (MariaDB: 6 zero bytes + int<4> ext caps)
            h.scramble[8:] + b"\0",  # string[13] auth-plugin-data-part-2
            nul_bytes(h.auth_plugin.encode()),  # string<NUL> auth plugin name
        ]
    )


def parse_handshake_v10(payload: bytes) -> HandshakeV10:
    r = Reader(payload)
    if r.u8() != 10:  # int<1> protocol version
        raise ProtocolError("not a HandshakeV10 packet")
    version = decode_text(r.nul_bytes(), "server version")  # string<NUL>
    connection_id = r.u32()  # int<4>
    part1 = r.take(8)  # string[8]
    r.skip(1)  # int<1> filler
    lower = r.u16()  # int<2>
    charset = r.u8()  # int<1>
    status = r.u16()  # int<2>
    lower |= r.u16() << 16  # int<2>
    data_len = r.u8()  # int<1>
    reserved = r.take(10)  # string[10]
    ext = int.from_bytes(reserved[6:], "little") if _has_mariadb_ext(lower) else 0
    part2 = r.take(max(13, data_len - 8)) if lower & C.CLIENT_SECURE_CONNECTION else b""
    plugin = r.nul_bytes_or_rest() if lower & C.CLIENT_PLUGIN_AUTH else b""
    scramble = (part1 + part2)[:SCRAMBLE_LENGTH]
    return HandshakeV10(
        version,
        connection_id,
        scramble,
        lower | ext << 32,
        charset,
        status,
        decode_text(plugin, "plugin name"),
    )


# --- SSLRequest and HandshakeResponse41 ------------------------------------------------------
# https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html

SSL_REQUEST_SIZE = 32


@dataclass(frozen=True, slots=True)
class SSLRequest:
    capabilities: int
    max_packet: int
    charset: int


@dataclass(frozen=True, slots=True)
class HandshakeResponse41:
    capabilities: int
    max_packet: int
    charset: int
    user: str
    auth_response: bytes = field(repr=False)
    database: str | None = None
    auth_plugin: str | None = None
    attrs: Attrs = ()
    # The attributes block as it came (parse), or extra encoded attributes to append after
    # `attrs` (build): lets a relay forward a client's attributes without re-encoding them.
    # Empty when the block did not parse cleanly.
    attrs_block: bytes = field(default=b"", repr=False, compare=False)


def _parse_fixed_head(r: Reader) -> tuple[int, int, int]:
    caps = r.u16()  # int<4> client_flag; before 4.1 (HandshakeResponse320) only int<2>
    if not caps & C.CLIENT_PROTOCOL_41:
        raise ProtocolError("pre-4.1 clients are not supported")
    caps |= r.u16() << 16
    max_packet = r.u32()  # int<4> max_packet_size
    charset = r.u8()  # int<1> character_set
    filler = r.take(23)  # string[23] filler (MariaDB: int<4> ext caps in the last 4)
    if _has_mariadb_ext(caps):
        caps |= int.from_bytes(filler[19:], "little") << 32
    return caps, max_packet, charset


def _build_fixed_head(caps: int, max_packet: int, charset: int) -> bytes:
    lower, ext = _split_caps(caps)
    filler = bytes(19) + (uint_bytes(ext, 4) if _has_mariadb_ext(lower) else bytes(4))
    return uint_bytes(lower, 4) + uint_bytes(max_packet, 4) + bytes([charset]) + filler


def is_ssl_request(payload: bytes) -> bool:
    return len(payload) == SSL_REQUEST_SIZE and bool(
        int.from_bytes(payload[:4], "little") & C.CLIENT_SSL
    )


def parse_ssl_request(payload: bytes) -> SSLRequest:
    if not is_ssl_request(payload):
        raise ProtocolError("not an SSLRequest packet")
    return SSLRequest(*_parse_fixed_head(Reader(payload)))


def build_ssl_request(req: SSLRequest) -> bytes:
    return _build_fixed_head(req.capabilities | C.CLIENT_SSL, req.max_packet, req.charset)


def _parse_auth_response(r: Reader, caps: int) -> bytes:
    if caps & C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
        return r.lenenc_bytes()  # string<lenenc>
    if caps & C.CLIENT_SECURE_CONNECTION:
        return r.take(r.u8())  # int<1> length + string[length]
    return r.nul_bytes()  # string<NUL>


def _parse_attrs(r: Reader) -> Attrs:
    return _parse_attrs_block(r)[0]


def _parse_attrs_block(r: Reader) -> tuple[Attrs, bytes]:
    """The key-value pairs, and the raw block (b"" unless it parsed cleanly)."""
    if r.at_end():  # CLIENT_CONNECT_ATTRS set but no block sent (Connector/Python)
        return (), b""
    raw = r.take(r.lenenc_int())  # int<lenenc> length of all key-values
    block = Reader(raw)
    pairs = []
    try:
        while not block.at_end():
            key = block.lenenc_bytes().decode("utf-8", "replace")  # string<lenenc> key
            value = block.lenenc_bytes().decode("utf-8", "replace")  # string<lenenc> value
            pairs.append((key, value))
    except ProtocolError:
        # Connector/NET 8.0.12 counted characters, not bytes (bug #92789). mysqld logs such
        # clients in; so do we, keeping the attributes that parsed.
        return tuple(pairs), b""
    return tuple(pairs), raw


def encode_attrs_block(attrs: Attrs) -> bytes:
    """Key-value pairs as a connection-attributes block, without its length prefix."""
    parts = []
    for key, value in attrs:
        parts.append(lenenc_bytes(key.encode()))
        parts.append(lenenc_bytes(value.encode()))
    return b"".join(parts)


def build_attrs(attrs: Attrs) -> bytes:
    return lenenc_bytes(encode_attrs_block(attrs))


def parse_handshake_response41(
    payload: bytes, server_charset: int = DEFAULT_CHARSET
) -> HandshakeResponse41:
    """The user name and database are decoded from the client's character set (the
    server's, `server_charset`, for an id it does not know), as mysqld does."""
    r = Reader(payload)
    caps, max_packet, charset = _parse_fixed_head(r)
    user = decode_name(r.nul_bytes(), charset, server_charset)  # string<NUL> username
    auth_response = _parse_auth_response(r, caps)
    database = None
    if caps & C.CLIENT_CONNECT_WITH_DB and not r.at_end():
        raw_db = r.nul_bytes_or_rest()  # string<NUL> database
        database = decode_name(raw_db, charset, server_charset)
    plugin = None
    if caps & C.CLIENT_PLUGIN_AUTH and not r.at_end():
        plugin = decode_text(r.nul_bytes_or_rest(), "plugin name")  # string<NUL> plugin
    attrs, raw = _parse_attrs_block(r) if caps & C.CLIENT_CONNECT_ATTRS else ((), b"")
    return HandshakeResponse41(
        caps, max_packet, charset, user, auth_response, database, plugin, attrs, raw
    )


def build_handshake_response41(
    h: HandshakeResponse41, server_charset: int = DEFAULT_CHARSET
) -> bytes:
    """The user name and database go in `h.charset` (the server's for an unknown id):
    UnicodeEncodeError when it cannot hold them."""
    caps = h.capabilities | C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION
    caps |= C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    caps = caps | C.CLIENT_CONNECT_WITH_DB if h.database else caps & ~C.CLIENT_CONNECT_WITH_DB
    caps = (
        caps | C.CLIENT_PLUGIN_AUTH if h.auth_plugin is not None else caps & ~C.CLIENT_PLUGIN_AUTH
    )
    has_attrs = bool(h.attrs or h.attrs_block)
    caps = caps | C.CLIENT_CONNECT_ATTRS if has_attrs else caps & ~C.CLIENT_CONNECT_ATTRS
    parts = [
        _build_fixed_head(caps, h.max_packet, h.charset),
        nul_bytes(encode_name(h.user, h.charset, server_charset)),
        lenenc_bytes(h.auth_response),
    ]
    if h.database:
        parts.append(nul_bytes(encode_name(h.database, h.charset, server_charset)))
    if h.auth_plugin is not None:
        parts.append(nul_bytes(h.auth_plugin.encode()))
    if has_attrs:
        parts.append(lenenc_bytes(encode_attrs_block(h.attrs) + h.attrs_block))
    return b"".join(parts)


# --- Authentication exchange ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthSwitchRequest:
    plugin: str
    data: bytes = field(repr=False)


def build_auth_switch_request(req: AuthSwitchRequest) -> bytes:
    # int<1> 0xFE, string<NUL> plugin name, string<EOF> plugin data
    return b"\xfe" + nul_bytes(req.plugin.encode()) + req.data


def parse_auth_switch_request(payload: bytes) -> AuthSwitchRequest:
    r = Reader(payload)
    if r.u8() != Marker.AUTH_SWITCH_REQUEST:
        raise ProtocolError("not an AuthSwitchRequest")
    plugin = decode_text(r.nul_bytes_or_rest(), "plugin name")
    return AuthSwitchRequest(plugin, r.rest())


def build_auth_more_data(data: bytes) -> bytes:
    return b"\x01" + data  # int<1> 0x01, string<EOF> data


def parse_auth_more_data(payload: bytes) -> bytes:
    if not payload or payload[0] != Marker.AUTH_MORE_DATA:
        raise ProtocolError("not an AuthMoreData packet")
    return payload[1:]


# --- OK and ERR --------------------------------------------------------------------------------
# https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html


@dataclass(frozen=True, slots=True)
class OkPacket:
    affected_rows: int = 0
    last_insert_id: int = 0
    status: int = 0x0002
    warnings: int = 0


def build_ok(ok: OkPacket) -> bytes:
    return (
        b"\x00"  # int<1> header
        + lenenc_int(ok.affected_rows)  # int<lenenc> affected rows
        + lenenc_int(ok.last_insert_id)  # int<lenenc> last insert id
        + uint_bytes(ok.status, 2)  # int<2> status flags
        + uint_bytes(ok.warnings, 2)  # int<2> warnings
    )


def parse_ok(payload: bytes) -> OkPacket:
    r = Reader(payload)
    if r.u8() != Marker.OK:
        raise ProtocolError("not an OK packet")
    affected, insert_id = r.lenenc_int(), r.lenenc_int()
    status = r.u16() if r.remaining >= 2 else 0
    warnings = r.u16() if r.remaining >= 2 else 0
    return OkPacket(affected, insert_id, status, warnings)


@dataclass(frozen=True, slots=True)
class ErrPacket:
    errno: int
    sqlstate: str
    message: str


def build_err(err: ErrPacket, protocol_41: bool = True, charset: str = "utf8mb4") -> bytes:
    """int<1> 0xFF, int<2> error code, then for a client that set CLIENT_PROTOCOL_41 '#' and
    string[5] SQLSTATE, then string<EOF> message in the client's character set `charset`
    (charsets.encode_message). mysqld decides by the same bit: a client without it reads the
    message right after the error code."""
    sqlstate = b"#" + err.sqlstate.encode()[:5] if protocol_41 else b""
    return b"\xff" + uint_bytes(err.errno, 2) + sqlstate + encode_message(err.message, charset)


def err_has_sqlstate(handshake_packet: bytes) -> bool:
    """Whether an ERR answering this packet of the client's handshake (its SSLRequest or
    HandshakeResponse) carries the SQLSTATE: the client's CLIENT_PROTOCOL_41 bit, in its
    first two bytes in both the 4.1 and the older (int<2> flags) layout. A packet too short
    to hold them: yes, as MariaDB 10.11 answers one (`ff 13 04 #08S01 Bad handshake`)."""
    if len(handshake_packet) < 2:
        return True
    return bool(int.from_bytes(handshake_packet[:2], "little") & C.CLIENT_PROTOCOL_41)


def parse_err(payload: bytes) -> ErrPacket:
    r = Reader(payload)
    if r.u8() != Marker.ERR:
        raise ProtocolError("not an ERR packet")
    errno = r.u16()
    sqlstate = "HY000"
    if not r.at_end() and r.peek_u8() == ord("#"):
        r.skip(1)
        sqlstate = r.take(5).decode("ascii", "replace")
    return ErrPacket(errno, sqlstate, r.rest().decode("utf-8", "replace"))


# --- COM_CHANGE_USER -------------------------------------------------------------------------
# https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html


@dataclass(frozen=True, slots=True)
class ChangeUser:
    user: str
    auth_response: bytes = field(repr=False)
    database: str
    charset: int | None = None
    auth_plugin: str | None = None
    attrs: Attrs = ()
    # more key-value pairs, already encoded (the client's own, as they came), after `attrs`
    attrs_block: bytes = field(default=b"", repr=False, compare=False)


def parse_change_user(
    payload: bytes, caps: int, session_charset: int = DEFAULT_CHARSET,
    server_charset: int = DEFAULT_CHARSET,
) -> ChangeUser:  # fmt: skip
    """The user name and database are decoded as mysqld does: from the character set the
    packet names, or `session_charset` when it names none (0 or absent): mysqld's is then
    the server's own, since it resets the session before it reads the packet."""
    r = Reader(payload)
    if r.u8() != Command.COM_CHANGE_USER:  # int<1> 0x11
        raise ProtocolError("not a COM_CHANGE_USER packet")
    raw_user = r.nul_bytes()  # string<NUL> user
    # int<1> length + string[length], or before 4.1 auth: string<NUL>
    auth_response = r.take(r.u8()) if caps & C.CLIENT_SECURE_CONNECTION else r.nul_bytes()
    raw_db = r.nul_bytes_or_rest()  # string<NUL> schema
    charset = r.u16() if r.remaining >= 2 else None  # int<2> character set
    names_in = charset or session_charset
    user = decode_name(raw_user, names_in, server_charset)
    database = decode_name(raw_db, names_in, server_charset)
    plugin = None
    if caps & C.CLIENT_PLUGIN_AUTH and not r.at_end():
        plugin = decode_text(r.nul_bytes_or_rest(), "plugin name")  # string<NUL>
    attrs = _parse_attrs(r) if caps & C.CLIENT_CONNECT_ATTRS else ()
    return ChangeUser(user, auth_response, database, charset, plugin, attrs)


def build_change_user(c: ChangeUser, caps: int, server_charset: int = DEFAULT_CHARSET) -> bytes:
    """The user name and database go in `c.charset` (the server's for an unknown id or
    none): UnicodeEncodeError when it cannot hold them."""
    if len(c.auth_response) > 255:
        raise ValueError("COM_CHANGE_USER auth data is limited to 255 bytes")
    parts = [
        bytes([Command.COM_CHANGE_USER]),
        nul_bytes(encode_name(c.user, c.charset or server_charset, server_charset)),
        bytes([len(c.auth_response)]) + c.auth_response,
        nul_bytes(encode_name(c.database, c.charset or server_charset, server_charset)),
        uint_bytes(c.charset if c.charset is not None else 0, 2),
    ]
    if caps & C.CLIENT_PLUGIN_AUTH:
        parts.append(nul_bytes((c.auth_plugin or "").encode()))
    if caps & C.CLIENT_CONNECT_ATTRS:
        parts.append(lenenc_bytes(encode_attrs_block(c.attrs) + c.attrs_block))
    return b"".join(parts)


# --- COM_QUERY ---------------------------------------------------------------------------------
# https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query.html


def build_com_query(sql: bytes, caps: int) -> bytes:
    """A COM_QUERY of the bridge's own (no parameters): int<1> 0x03; with
    CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+) int<lenenc> parameter_count (0) and
    int<lenenc> parameter_set_count (always 1); then string<EOF> the query."""
    attributes = b"\x00\x01" if caps & C.CLIENT_QUERY_ATTRIBUTES else b""
    return bytes([Command.COM_QUERY]) + attributes + sql
