"""Protocol boundaries no golden packet pins down: the 0xFB/0xFF markers and the width
thresholds of length-encoded integers, pre-4.1 clients, capability bits the builders set or
clear, and where optional trailing fields may end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bridge.protocol.codec import Reader, decode_text, lenenc_bytes, lenenc_int, nul_bytes
from bridge.protocol.constants import Capability as C
from bridge.protocol.errors import ProtocolError
from bridge.protocol.packets import (
    ChangeUser,
    HandshakeResponse41,
    HandshakeV10,
    build_change_user,
    build_handshake_response41,
    build_handshake_v10,
    is_ssl_request,
    parse_auth_more_data,
    parse_auth_switch_request,
    parse_change_user,
    parse_err,
    parse_handshake_response41,
    parse_handshake_v10,
    parse_ok,
)

CAPS41 = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_LONG_PASSWORD


def fixed_head(caps: int, ext: int = 0) -> bytes:
    return (
        caps.to_bytes(4, "little")
        + (1 << 24).to_bytes(4, "little")
        + b"\x21"
        + bytes(19)
        + ext.to_bytes(4, "little")
    )


@pytest.mark.parametrize("marker", [0xFB, 0xFF])
def test_null_and_err_markers_are_not_string_lengths(marker: int) -> None:
    # 0xFB is NULL, 0xFF an ERR packet: neither is a one-byte length of 251 or 255.
    data = bytes([marker]) + b"x" * 300
    with pytest.raises(ProtocolError) as caught:
        Reader(data).lenenc_bytes()
    assert str(caught.value) == f"0x{marker:02x} is not a length-encoded integer"


@pytest.mark.parametrize("length", [0, 1, 0xFA])
def test_one_byte_lengths_up_to_250(length: int) -> None:
    r = Reader(bytes([length]) + b"y" * length + b"z")
    assert r.lenenc_bytes() == b"y" * length and r.rest() == b"z"


@pytest.mark.parametrize(("length", "have"), [(5, 4), (0xFA, 0), (0xFA, 0xF9)])
def test_one_byte_length_past_the_end(length: int, have: int) -> None:
    with pytest.raises(ProtocolError) as caught:
        Reader(bytes([length]) + b"y" * have).lenenc_bytes()
    assert str(caught.value) == "string runs past the end of the packet"


@pytest.mark.parametrize(
    ("value", "width"),
    [(0xFA, 1), (0xFB, 3), (0xFFFF, 3), (0x10000, 4), (0xFFFFFF, 4), (0x1000000, 9)],
)
def test_lenenc_width_thresholds(value: int, width: int) -> None:
    assert len(lenenc_int(value)) == width
    assert len(lenenc_bytes(b"\0" * min(value, 0x10001))) == min(width, 4) + min(value, 0x10001)


def test_negative_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        lenenc_int(-1)
    with pytest.raises(ProtocolError):
        Reader(b"abc").take(-1)


def test_reader_reports_what_is_missing() -> None:
    r = Reader(b"ab")
    with pytest.raises(ProtocolError) as caught:
        r.take(3)
    assert str(caught.value) == "need 3 bytes, 2 left"
    assert r.take(2) == b"ab" and r.at_end() and r.remaining == 0
    for read in (r.u8, r.peek_u8):
        with pytest.raises(ProtocolError) as caught:
            read()
        assert str(caught.value) == "need 1 byte, 0 left"
    assert Reader(b"\x07").peek_u8() == 7


def test_reads_are_little_endian() -> None:
    r = Reader(bytes.fromhex("0102 01020304 aa"))
    assert (r.u16(), r.u32(), r.u8()) == (0x0201, 0x04030201, 0xAA)
    assert Reader(bytes.fromhex("fc0201")).lenenc_int() == 0x0102
    assert Reader(bytes.fromhex("fd030201")).lenenc_int() == 0x010203


def test_decode_text_names_the_field() -> None:
    assert decode_text("ä".encode(), "user name") == "ä"
    with pytest.raises(ProtocolError) as caught:
        decode_text(b"\xff", "user name")
    assert str(caught.value) == "user name is not valid UTF-8"


# --- HandshakeResponse41 --------------------------------------------------------------------


def test_pre_4_1_clients_are_refused() -> None:
    caps = C.CLIENT_SECURE_CONNECTION | C.CLIENT_LONG_PASSWORD  # no CLIENT_PROTOCOL_41
    with pytest.raises(ProtocolError) as caught:
        parse_handshake_response41(fixed_head(caps) + b"root\0\0")
    assert str(caught.value) == "pre-4.1 clients are not supported"


def test_a_4_1_client_with_the_same_bytes_is_read() -> None:
    hello = parse_handshake_response41(fixed_head(CAPS41) + b"root\0\x02ab")
    assert (hello.user, hello.auth_response, hello.database, hello.auth_plugin) == (
        "root",
        b"ab",
        None,
        None,
    )
    assert (hello.max_packet, hello.charset) == (1 << 24, 0x21)


@pytest.mark.parametrize(
    ("caps", "tail", "auth"),
    [
        (CAPS41 | C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, b"\xfc\x03\x00abc", b"abc"),
        (CAPS41, b"\x03abc", b"abc"),
        (C.CLIENT_PROTOCOL_41 | C.CLIENT_LONG_PASSWORD, b"abc\0", b"abc"),  # NUL-terminated
    ],
)
def test_the_three_auth_response_encodings(caps: int, tail: bytes, auth: bytes) -> None:
    assert parse_handshake_response41(fixed_head(caps) + b"u\0" + tail).auth_response == auth


def test_mariadb_extended_caps_only_when_client_mysql_is_clear() -> None:
    mariadb = CAPS41 & ~C.CLIENT_LONG_PASSWORD
    ext = C.MARIADB_CLIENT_PROGRESS >> 32
    got = parse_handshake_response41(fixed_head(mariadb, ext) + b"u\0\0")
    assert got.capabilities == mariadb | C.MARIADB_CLIENT_PROGRESS
    assert parse_handshake_response41(fixed_head(CAPS41, ext) + b"u\0\0").capabilities == CAPS41


def response(caps: int, database: str | None, plugin: str | None = "mysql_native_password",
             attrs: tuple[tuple[str, str], ...] = ()) -> HandshakeResponse41:  # fmt: skip
    return HandshakeResponse41(caps, 1 << 24, 45, "app", b"\x01" * 20, database, plugin, attrs)


@pytest.mark.parametrize("database", [None, ""])
def test_upstream_login_without_database_clears_connect_with_db(database: str | None) -> None:
    # The client named no database: the upstream login must not claim one.
    data = build_handshake_response41(response(CAPS41 | C.CLIENT_CONNECT_WITH_DB, database))
    caps = int.from_bytes(data[:4], "little")
    assert not caps & C.CLIENT_CONNECT_WITH_DB
    assert caps & C.CLIENT_PROTOCOL_41 and caps & C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    parsed = parse_handshake_response41(data)
    assert parsed.database is None and parsed.auth_plugin == "mysql_native_password"


def test_upstream_login_with_database_sets_connect_with_db() -> None:
    data = build_handshake_response41(response(CAPS41, "shop"))
    assert int.from_bytes(data[:4], "little") & C.CLIENT_CONNECT_WITH_DB
    assert data.endswith(b"shop\0mysql_native_password\0")


def test_plugin_and_attrs_flags_follow_what_is_sent() -> None:
    none = build_handshake_response41(response(CAPS41 | C.CLIENT_PLUGIN_AUTH, None, None))
    caps = int.from_bytes(none[:4], "little")
    assert not caps & C.CLIENT_PLUGIN_AUTH and not caps & C.CLIENT_CONNECT_ATTRS
    with_attrs = build_handshake_response41(response(CAPS41, None, None, (("k", "v"),)))
    assert int.from_bytes(with_attrs[:4], "little") & C.CLIENT_CONNECT_ATTRS
    assert parse_handshake_response41(with_attrs).attrs == (("k", "v"),)


def test_connector_python_attrs_flag_without_a_block() -> None:
    caps = CAPS41 | C.CLIENT_CONNECT_ATTRS
    hello = parse_handshake_response41(fixed_head(caps) + b"u\0\0")
    assert hello.attrs == () and hello.attrs_block == b""


def test_a_cut_attributes_block_is_a_protocol_error() -> None:
    caps = CAPS41 | C.CLIENT_CONNECT_ATTRS
    with pytest.raises(ProtocolError):
        parse_handshake_response41(fixed_head(caps) + b"u\0\0" + b"\x05\x01k")


# --- greeting, SSLRequest, auth exchange, OK, ERR, COM_CHANGE_USER ----------------------------


def greeting(caps: int) -> HandshakeV10:
    return HandshakeV10(
        "10.11.6-MariaDB", 7, bytes(range(1, 21)), caps, 45, 2, "mysql_native_password"
    )


def test_greeting_layout() -> None:
    caps = (
        C.CLIENT_PROTOCOL_41
        | C.CLIENT_SECURE_CONNECTION
        | C.CLIENT_PLUGIN_AUTH
        | C.CLIENT_LONG_PASSWORD
    )
    data = build_handshake_v10(greeting(caps))
    v = len(b"10.11.6-MariaDB") + 1
    assert data[0] == 10 and data[1:v] == b"10.11.6-MariaDB" and data[v] == 0
    assert data[1 + v : 5 + v] == (7).to_bytes(4, "little")
    assert data[5 + v : 13 + v] == bytes(range(1, 9)) and data[13 + v] == 0
    assert data[14 + v : 16 + v] == (caps & 0xFFFF).to_bytes(2, "little")
    assert (data[16 + v], data[17 + v : 19 + v]) == (45, b"\x02\x00")  # charset, status
    assert data[19 + v : 21 + v] == (caps >> 16).to_bytes(2, "little")
    assert data[21 + v] == 21  # auth_plugin_data_len: the scramble and its NUL
    assert data[22 + v : 32 + v] == bytes(10)  # no extended caps: CLIENT_MYSQL is set
    assert data[32 + v : 45 + v] == bytes(range(9, 21)) + b"\0"
    assert data[45 + v :] == b"mysql_native_password\0"


def test_greeting_protocol_version_must_be_10() -> None:
    data = bytearray(build_handshake_v10(greeting(C.CLIENT_PROTOCOL_41)))
    data[0] = 9
    with pytest.raises(ProtocolError) as caught:
        parse_handshake_v10(bytes(data))
    assert str(caught.value) == "not a HandshakeV10 packet"


def test_greeting_without_secure_connection_keeps_only_part_one() -> None:
    data = build_handshake_v10(greeting(C.CLIENT_PROTOCOL_41 | C.CLIENT_LONG_PASSWORD))
    parsed = parse_handshake_v10(data)
    assert parsed.scramble == bytes(range(1, 9)) and parsed.auth_plugin == ""


def test_greeting_with_a_long_auth_data_length_reads_it_all() -> None:
    caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_LONG_PASSWORD
    v = len(b"10.11.6-MariaDB") + 1
    data = bytearray(build_handshake_v10(greeting(caps))[: 45 + v])  # no plugin name
    data[21 + v] = 8 + 16  # part 2 announced as 16 bytes: 3 more than the usual 13
    parsed = parse_handshake_v10(bytes(data) + b"xyz")
    assert parsed.scramble == bytes(range(1, 21))
    with pytest.raises(ProtocolError):
        parse_handshake_v10(bytes(data) + b"xy")


@pytest.mark.parametrize(
    ("size", "caps", "expected"),
    [(32, C.CLIENT_SSL, True), (31, C.CLIENT_SSL, False), (33, C.CLIENT_SSL, False),
     (32, C.CLIENT_PROTOCOL_41, False)],
)  # fmt: skip
def test_ssl_request_is_exactly_32_bytes_with_client_ssl(
    size: int, caps: int, expected: bool
) -> None:
    assert is_ssl_request(caps.to_bytes(4, "little") + bytes(size - 4)) is expected


@pytest.mark.parametrize(
    ("parse", "payload", "message"),
    [
        (parse_auth_switch_request, b"\x01abc", "not an AuthSwitchRequest"),
        (parse_auth_more_data, b"", "not an AuthMoreData packet"),
        (parse_auth_more_data, b"\xfeabc", "not an AuthMoreData packet"),
        (parse_ok, b"\xfe\x00\x00", "not an OK packet"),
        (parse_err, b"\x00\x15\x04", "not an ERR packet"),
    ],
)
def test_markers_are_checked(
    parse: Callable[[bytes], object], payload: bytes, message: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(payload)
    assert str(caught.value) == message


def test_auth_switch_plugin_without_nul_takes_the_rest() -> None:
    switch = parse_auth_switch_request(b"\xfemysql_clear_password")
    assert (switch.plugin, switch.data) == ("mysql_clear_password", b"")


def test_err_without_sqlstate_marker() -> None:
    err = parse_err(b"\xff\x15\x04Access denied")  # pre-4.1 style: no '#'
    assert (err.errno, err.sqlstate, err.message) == (1045, "HY000", "Access denied")


def test_ok_with_one_trailing_byte_ignores_it() -> None:
    ok = parse_ok(b"\x00\x01\x02\x03")
    assert (ok.affected_rows, ok.last_insert_id, ok.status, ok.warnings) == (1, 2, 0, 0)
    ok = parse_ok(b"\x00\x01\x02\x03\x00\x04")
    assert (ok.status, ok.warnings) == (3, 0)


def test_change_user_marker_and_pre_4_1_auth() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_change_user(b"\x03bob\0", 0)
    assert str(caught.value) == "not a COM_CHANGE_USER packet"
    old = parse_change_user(b"\x11bob\0token\0db\0", 0)  # without CLIENT_SECURE_CONNECTION
    assert (old.user, old.auth_response, old.database, old.charset) == ("bob", b"token", "db", None)
    assert parse_change_user(b"\x11bob\0token\0db\0\x08", 0).charset is None  # one byte: no charset


def test_change_user_auth_data_is_limited_to_255_bytes() -> None:
    caps = C.CLIENT_SECURE_CONNECTION
    assert (
        parse_change_user(
            build_change_user(ChangeUser("u", b"a" * 255, "d", 8), caps), caps
        ).auth_response
        == b"a" * 255
    )
    with pytest.raises(ValueError):
        build_change_user(ChangeUser("u", b"a" * 256, "d", 8), caps)


def test_change_user_without_charset_sends_zero_and_empty_plugin() -> None:
    caps = C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH
    data = build_change_user(ChangeUser("u", b"", "d"), caps)
    assert data == b"\x11u\0\0d\0\0\0\0"


def test_nul_string_builder() -> None:
    assert nul_bytes(b"") == b"\0" and nul_bytes(b"ab") == b"ab\0"


def test_codec_error_texts() -> None:
    with pytest.raises(ProtocolError) as caught:
        Reader(b"abc").nul_bytes()
    assert str(caught.value) == "unterminated string"
    with pytest.raises(ValueError) as value_error:
        lenenc_int(-1)
    assert str(value_error.value) == "length-encoded integers are unsigned"
    with pytest.raises(ValueError) as value_error:
        nul_bytes(b"a\0b")
    assert str(value_error.value) == "a NUL-terminated string cannot contain NUL"


@pytest.mark.parametrize(
    ("data", "first", "rest"),
    [
        (b"a\0b\0", b"a", b"b\0"),  # the first NUL ends the string
        (b"\0tail", b"", b"tail"),  # an empty string at the start
        (b"abc", b"abc", b""),  # no NUL: the rest
        (b"", b"", b""),
    ],
)
def test_nul_bytes_or_rest(data: bytes, first: bytes, rest: bytes) -> None:
    r = Reader(data)
    assert r.nul_bytes_or_rest() == first
    assert r.rest() == rest


def test_a_nul_string_after_others_starts_where_they_end() -> None:
    r = Reader(b"x\0\0y\0")
    assert (r.nul_bytes(), r.nul_bytes(), r.nul_bytes()) == (b"x", b"", b"y")
