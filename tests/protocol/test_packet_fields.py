"""Field-level rules of the connection-phase packets: which text field a UTF-8 error names,
where MariaDB's extended capabilities may travel, what a parser must ignore, and how
undecodable bytes in attributes, SQLSTATE and messages are kept instead of raised."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bridge.protocol.codec import lenenc_bytes
from bridge.protocol.constants import Capability as C
from bridge.protocol.errors import ProtocolError
from bridge.protocol.packets import (
    ChangeUser,
    ErrPacket,
    HandshakeResponse41,
    HandshakeV10,
    SSLRequest,
    build_attrs,
    build_change_user,
    build_err,
    build_handshake_response41,
    build_handshake_v10,
    build_ssl_request,
    parse_auth_switch_request,
    parse_change_user,
    parse_err,
    parse_handshake_response41,
    parse_handshake_v10,
    parse_ok,
    parse_ssl_request,
)

BAD = b"\xff\xfe"  # never valid UTF-8
CAPS41 = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_LONG_PASSWORD
EXT = C.MARIADB_CLIENT_PROGRESS


def head(caps: int) -> bytes:
    return caps.to_bytes(4, "little") + bytes(4) + b"\x21" + bytes(23)


def greeting(version: bytes = b"10.11", plugin: bytes = b"mysql_native_password") -> bytes:
    caps = CAPS41 | C.CLIENT_PLUGIN_AUTH
    good = build_handshake_v10(HandshakeV10("V", 1, bytes(20), caps, 45, 2, "P"))
    return b"\x0a" + version + b"\0" + good[3:-2] + plugin + b"\0"


@pytest.mark.parametrize(
    ("parse", "payload", "field"),
    [
        (parse_handshake_v10, greeting(version=BAD), "server version"),
        (parse_handshake_v10, greeting(plugin=BAD), "plugin name"),
        (parse_handshake_response41, head(CAPS41 | C.CLIENT_PLUGIN_AUTH) + b"u\0\0" + BAD + b"\0", "plugin name"),
        (parse_auth_switch_request, b"\xfe" + BAD + b"\0data", "plugin name"),
        (lambda p: parse_change_user(p, C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH),
         b"\x11u\0\0db\0\x21\x00" + BAD + b"\0", "plugin name"),
    ],
)  # fmt: skip
def test_a_utf8_error_names_the_field(
    parse: Callable[[bytes], object], payload: bytes, field: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse(payload)
    assert str(caught.value) == f"{field} is not valid UTF-8"


def test_names_not_valid_in_the_client_charset_become_question_marks() -> None:
    # mysqld converts each invalid byte of the user name and database to '?' and looks the
    # result up (ERROR 1045 for 'j?rg' from MariaDB 10.11), where it refuses a bad plugin name.
    db_caps = CAPS41 | C.CLIENT_CONNECT_WITH_DB
    hello = parse_handshake_response41(head(db_caps) + b"j" + BAD + b"rg\0\0d" + BAD + b"\0")
    assert (hello.user, hello.database) == ("j??rg", "d??")
    change = parse_change_user(
        b"\x11j" + BAD + b"rg\0\0d" + BAD + b"\0", C.CLIENT_SECURE_CONNECTION
    )
    assert (change.user, change.database) == ("j??rg", "d??")


def test_the_greeting_helper_builds_a_valid_greeting() -> None:
    parsed = parse_handshake_v10(greeting())
    assert (parsed.server_version, parsed.auth_plugin) == ("10.11", "mysql_native_password")


def test_no_extended_caps_in_a_greeting_that_sets_client_mysql() -> None:
    # A MySQL-style greeting (CLIENT_LONG_PASSWORD set) keeps the reserved bytes zero,
    # even if the capabilities handed to the builder carry MariaDB bits.
    data = build_handshake_v10(HandshakeV10("8.0", 1, bytes(20), CAPS41 | EXT, 45, 2, "p"))
    v = len(b"8.0") + 1
    assert data[22 + v : 32 + v] == bytes(10)
    # and a parser ignores whatever a MySQL server leaves in them
    noisy = bytearray(data)
    noisy[28 + v : 32 + v] = b"\xff\xff\xff\xff"
    assert parse_handshake_v10(bytes(noisy)).capabilities == CAPS41


def test_no_extended_caps_in_a_response_that_sets_client_mysql() -> None:
    built = build_ssl_request(SSLRequest(CAPS41 | EXT, 1 << 24, 45))
    assert built[9:32] == bytes(23)
    assert parse_ssl_request(built).capabilities == CAPS41 | C.CLIENT_SSL
    noisy = built[:28] + b"\xff\xff\xff\xff"
    assert parse_ssl_request(noisy).capabilities == CAPS41 | C.CLIENT_SSL
    mariadb = build_ssl_request(SSLRequest((CAPS41 & ~C.CLIENT_LONG_PASSWORD) | EXT, 1 << 24, 45))
    assert mariadb[28:32] == (EXT >> 32).to_bytes(4, "little")


def test_ssl_request_error_text() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_ssl_request(bytes(32))
    assert str(caught.value) == "not an SSLRequest packet"


def test_attributes_are_read_only_when_announced() -> None:
    tail = b"u\0\0" + build_attrs((("k", "v"),))
    assert parse_handshake_response41(head(CAPS41) + tail).attrs == ()
    assert parse_handshake_response41(head(CAPS41 | C.CLIENT_CONNECT_ATTRS) + tail).attrs == (
        ("k", "v"),
    )


def test_undecodable_attributes_are_kept_with_replacement_characters() -> None:
    block = lenenc_bytes(b"k" + BAD) + lenenc_bytes(BAD + b"v")
    hello = parse_handshake_response41(
        head(CAPS41 | C.CLIENT_CONNECT_ATTRS) + b"u\0\0" + lenenc_bytes(block)
    )
    assert hello.attrs == (("k\ufffd\ufffd", "\ufffd\ufffdv"),)
    assert hello.attrs_block == block


def test_err_keeps_undecodable_sqlstate_and_message() -> None:
    err = parse_err(b"\xff\x15\x04#\xff2800Access " + BAD)
    assert (err.errno, err.sqlstate, err.message) == (1045, "\ufffd2800", "Access \ufffd\ufffd")


def test_err_sqlstate_is_five_characters() -> None:
    assert build_err(ErrPacket(1045, "28000X", "m")) == b"\xff\x15\x04#28000m"


def test_ok_status_with_no_warnings_field() -> None:
    ok = parse_ok(b"\x00\x01\x02\x03\x00")
    assert (ok.affected_rows, ok.last_insert_id, ok.status, ok.warnings) == (1, 2, 3, 0)


@pytest.mark.parametrize("size", [256, 300])
def test_change_user_refuses_long_auth_data_with_the_limit(size: int) -> None:
    with pytest.raises(ValueError) as caught:
        build_change_user(ChangeUser("u", b"a" * size, "d", 8), C.CLIENT_SECURE_CONNECTION)
    assert str(caught.value) == "COM_CHANGE_USER auth data is limited to 255 bytes"


def test_response_builder_keeps_ext_caps_out_for_client_mysql() -> None:
    hello = HandshakeResponse41(CAPS41 | EXT, 1 << 24, 45, "u", b"", None, "p")
    data = build_handshake_response41(hello)
    assert data[28:32] == bytes(4)
    assert not parse_handshake_response41(data).capabilities >> 32
