"""Property tests that check results, not only "ProtocolError or nothing" (test_fuzz.py):
parse(build(x)) == x for every packet pair, and a packet cut short raises ProtocolError
exactly while a required field is incomplete."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocol.charsets import CHARSET_OF_ID
from bridge.protocol.codec import Reader, lenenc_bytes, lenenc_int, nul_bytes
from bridge.protocol.constants import Capability as C
from bridge.protocol.errors import ProtocolError
from bridge.protocol.packets import (
    AuthSwitchRequest,
    ChangeUser,
    ErrPacket,
    HandshakeResponse41,
    HandshakeV10,
    OkPacket,
    SSLRequest,
    build_auth_more_data,
    build_auth_switch_request,
    build_change_user,
    build_err,
    build_handshake_response41,
    build_handshake_v10,
    build_ok,
    build_ssl_request,
    encode_attrs_block,
    parse_auth_more_data,
    parse_auth_switch_request,
    parse_change_user,
    parse_err,
    parse_handshake_response41,
    parse_handshake_v10,
    parse_ok,
    parse_ssl_request,
)

SETTINGS = settings(deadline=None)  # examples: the profile (tests/conftest.py)
LOWER = (1 << 32) - 1
u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, LOWER)
caps64 = st.integers(0, (1 << 64) - 1)
# Collation ids whose names go as UTF-8: utf8mb3/utf8mb4 ones, and ids MariaDB does not know
# (the server's default: utf8mb4 here). Other character sets: tests/protocol/test_charsets.py.
utf8_ids = st.sampled_from(
    [i for i, cs in CHARSET_OF_ID.items() if cs in ("utf8mb3", "utf8mb4")] + [0, 250, 255]
)
name = st.text(st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]), max_size=40)
text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
attrs = st.lists(st.tuples(text, text), max_size=4).map(tuple)
lenenc_values = st.one_of(
    st.integers(0, 0xFA), st.integers(0xFB, 0xFFFF), st.integers(0x10000, 0xFFFFFF),
    st.integers(0x1000000, (1 << 64) - 1),
)  # fmt: skip


def wire_caps(caps: int) -> int:
    """What survives the trip: MariaDB's extended caps travel only with CLIENT_LONG_PASSWORD
    clear (MariaDB's announcement of them)."""
    return caps & LOWER if caps & C.CLIENT_LONG_PASSWORD else caps


def cuts_raise_until(data: bytes, required: int, parse: Callable[[bytes], Any]) -> None:
    """Every prefix shorter than `required` raises ProtocolError; longer ones may parse."""
    for cut in range(len(data)):
        if cut < required:
            try:
                parse(data[:cut])
            except ProtocolError:
                continue
            raise AssertionError(f"a cut at {cut} of {required} required bytes parsed")
        with contextlib.suppress(ProtocolError):
            parse(data[:cut])


# --- codec ---------------------------------------------------------------------------------


@SETTINGS
@given(value=lenenc_values, tail=st.binary(max_size=4))
def test_lenenc_int_round_trip_and_width(value: int, tail: bytes) -> None:
    encoded = lenenc_int(value)
    width = 1 if value < 0xFB else 3 if value < 1 << 16 else 4 if value < 1 << 24 else 9
    assert len(encoded) == width
    r = Reader(encoded + tail)
    assert r.lenenc_int() == value and r.remaining == len(tail)
    cuts_raise_until(encoded, len(encoded), lambda d: Reader(d).lenenc_int())


@SETTINGS
@given(value=st.binary(max_size=300), tail=st.binary(max_size=4))
def test_lenenc_bytes_round_trip(value: bytes, tail: bytes) -> None:
    encoded = lenenc_bytes(value)
    r = Reader(encoded + tail)
    assert r.lenenc_bytes() == value and r.rest() == tail
    cuts_raise_until(encoded, len(encoded), lambda d: Reader(d).lenenc_bytes())


@SETTINGS
@given(value=st.binary(max_size=60).filter(lambda b: b"\0" not in b), tail=st.binary(max_size=8))
def test_nul_bytes_round_trip(value: bytes, tail: bytes) -> None:
    r = Reader(nul_bytes(value) + tail)
    assert r.nul_bytes() == value and r.rest() == tail and r.at_end()
    assert Reader(value).nul_bytes_or_rest() == value  # a missing final NUL at the end
    cuts_raise_until(nul_bytes(value), len(value) + 1, lambda d: Reader(d).nul_bytes())


@SETTINGS
@given(data=st.binary(max_size=40), widths=st.lists(st.sampled_from([1, 2, 4, 8]), max_size=8))
def test_fixed_ints_read_little_endian_until_the_end(data: bytes, widths: list[int]) -> None:
    r, pos = Reader(data), 0
    for width in widths:
        if pos + width > len(data):
            try:
                r.uint(width)
            except ProtocolError:
                assert r.remaining == len(data) - pos  # a failed read consumes nothing
                return
            raise AssertionError("read past the end")
        assert r.uint(width) == int.from_bytes(data[pos : pos + width], "little")
        pos += width
        assert r.remaining == len(data) - pos


# --- connection phase ----------------------------------------------------------------------


@st.composite
def greetings(draw: st.DrawFn) -> HandshakeV10:
    caps = draw(caps64) | C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH
    return HandshakeV10(draw(name), draw(u32), draw(st.binary(min_size=20, max_size=20)),
                        wire_caps(caps), draw(u8), draw(u16), draw(name))  # fmt: skip


@SETTINGS
@given(greeting=greetings())
def test_greeting_round_trip(greeting: HandshakeV10) -> None:
    data = build_handshake_v10(greeting)
    assert parse_handshake_v10(data) == greeting
    required = len(data) - len(greeting.auth_plugin.encode()) - 1  # the plugin name may be cut
    cuts_raise_until(data, required, parse_handshake_v10)
    assert parse_handshake_v10(data[:required]).scramble == greeting.scramble


@st.composite
def responses(draw: st.DrawFn) -> HandshakeResponse41:
    return HandshakeResponse41(
        draw(caps64), draw(u32), draw(utf8_ids.filter(lambda i: i < 256)), draw(name),
        draw(st.binary(max_size=300)),
        draw(st.none() | name), draw(st.none() | name), draw(attrs),
    )  # fmt: skip


def expected_response(h: HandshakeResponse41) -> HandshakeResponse41:
    caps = h.capabilities | C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION
    caps |= C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    caps = caps | C.CLIENT_CONNECT_WITH_DB if h.database else caps & ~C.CLIENT_CONNECT_WITH_DB
    caps = (
        caps | C.CLIENT_PLUGIN_AUTH if h.auth_plugin is not None else caps & ~C.CLIENT_PLUGIN_AUTH
    )
    caps = caps | C.CLIENT_CONNECT_ATTRS if h.attrs else caps & ~C.CLIENT_CONNECT_ATTRS
    return HandshakeResponse41(wire_caps(caps), h.max_packet, h.charset, h.user, h.auth_response,
                               h.database or None, h.auth_plugin, h.attrs)  # fmt: skip


@SETTINGS
@given(hello=responses())
def test_handshake_response_round_trip(hello: HandshakeResponse41) -> None:
    data = build_handshake_response41(hello)
    parsed = parse_handshake_response41(data)
    assert parsed == expected_response(hello)
    assert parsed.attrs_block == (encode_attrs_block(hello.attrs) if hello.attrs else b"")
    required = 32 + len(hello.user.encode()) + 1 + len(lenenc_bytes(hello.auth_response))
    cuts_raise_until(data, required, parse_handshake_response41)
    head = parse_handshake_response41(data[:required])
    assert (head.user, head.auth_response, head.database) == (hello.user, hello.auth_response, None)


@SETTINGS
@given(caps=caps64, max_packet=u32, charset=u8)
def test_ssl_request_round_trip(caps: int, max_packet: int, charset: int) -> None:
    caps |= C.CLIENT_PROTOCOL_41
    data = build_ssl_request(SSLRequest(caps, max_packet, charset))
    assert len(data) == 32
    assert parse_ssl_request(data) == SSLRequest(
        wire_caps(caps | C.CLIENT_SSL), max_packet, charset
    )
    cuts_raise_until(data, 32, parse_ssl_request)
    no_ssl = (int.from_bytes(data[:4], "little") & ~C.CLIENT_SSL).to_bytes(4, "little")
    try:
        parse_ssl_request(no_ssl + data[4:])
    except ProtocolError:
        return
    raise AssertionError("an SSLRequest without CLIENT_SSL parsed")


@SETTINGS
@given(plugin=name, data=st.binary(max_size=60))
def test_auth_switch_round_trip(plugin: str, data: bytes) -> None:
    built = build_auth_switch_request(AuthSwitchRequest(plugin, data))
    assert parse_auth_switch_request(built) == AuthSwitchRequest(plugin, data)
    cuts_raise_until(built, 1, parse_auth_switch_request)


@SETTINGS
@given(data=st.binary(max_size=60))
def test_auth_more_data_round_trip(data: bytes) -> None:
    built = build_auth_more_data(data)
    assert parse_auth_more_data(built) == data
    cuts_raise_until(built, 1, parse_auth_more_data)


@SETTINGS
@given(ok=st.builds(OkPacket, lenenc_values, lenenc_values, u16, u16))
def test_ok_round_trip(ok: OkPacket) -> None:
    data = build_ok(ok)
    assert parse_ok(data) == ok
    required = 1 + len(lenenc_int(ok.affected_rows)) + len(lenenc_int(ok.last_insert_id))
    cuts_raise_until(data, required, parse_ok)
    assert parse_ok(data[:required]) == OkPacket(ok.affected_rows, ok.last_insert_id, 0, 0)


@SETTINGS
@given(errno=u16, sqlstate=st.text("0123456789ABCDEFHYZ", min_size=5, max_size=5), message=text)
def test_err_round_trip(errno: int, sqlstate: str, message: str) -> None:
    data = build_err(ErrPacket(errno, sqlstate, message))
    assert parse_err(data) == ErrPacket(errno, sqlstate, message)
    cuts_raise_until(data[:9], 3, parse_err)  # errno required; a '#' needs its 5 characters
    for cut in (4, 5, 6, 7, 8):
        try:
            parse_err(data[:cut])
        except ProtocolError:
            continue
        raise AssertionError(f"an SQLSTATE cut to {cut - 4} characters parsed")
    assert parse_err(data[:3]) == ErrPacket(errno, "HY000", "")


@st.composite
def change_users(draw: st.DrawFn) -> tuple[ChangeUser, int]:
    caps = draw(st.sampled_from([0, C.CLIENT_PLUGIN_AUTH]))
    caps |= draw(st.sampled_from([0, C.CLIENT_CONNECT_ATTRS])) | C.CLIENT_SECURE_CONNECTION
    plugin = draw(name) if caps & C.CLIENT_PLUGIN_AUTH else None
    change = ChangeUser(draw(name), draw(st.binary(max_size=255)), draw(name), draw(utf8_ids), plugin,
                        draw(attrs) if caps & C.CLIENT_CONNECT_ATTRS else ())  # fmt: skip
    return change, caps


@SETTINGS
@given(case=change_users())
def test_change_user_round_trip(case: tuple[ChangeUser, int]) -> None:
    change, caps = case
    data = build_change_user(change, caps)
    assert parse_change_user(data, caps) == change
    required = 1 + len(change.user.encode()) + 1 + 1 + len(change.auth_response)
    cuts_raise_until(data, required, lambda d: parse_change_user(d, caps))
