"""ERR packets as mysqld words them for the client in front of it: '#' and the SQLSTATE only
for a client that set CLIENT_PROTOCOL_41. The byte strings are MariaDB 10.11's own answers,
captured from a real server (tests/integration/test_err_format.py compares live)."""

from __future__ import annotations

import pytest

from bridge.errors import BadHandshake, TooManyConnections
from bridge.protocol.constants import Capability as C
from bridge.protocol.packets import (
    ErrPacket,
    HandshakeResponse41,
    SSLRequest,
    build_err,
    build_handshake_response41,
    build_ssl_request,
    err_has_sqlstate,
    parse_err,
)

# A HandshakeResponse320 (before 4.1): int<2> flags (LONG_PASSWORD | LONG_FLAG), int<3> max
# packet, string<NUL> user, string<EOF> scrambled password.
PRE_41_RESPONSE = b"\x05\x00" + b"\xff\xff\xff" + b"nobody\0" + b"abcdefgh"


def test_a_4_1_client_gets_the_sqlstate() -> None:
    assert build_err(BadHandshake("x").to_err()) == b"\xff\x13\x04#08S01Bad handshake"
    assert build_err(BadHandshake("x").to_err(), protocol_41=True) == (
        b"\xff\x13\x04#08S01Bad handshake"
    )


def test_a_pre_4_1_client_gets_the_message_right_after_the_code() -> None:
    # MariaDB 10.11 to the 3-byte pre-4.1 response 05 00 00: ff 13 04 "Bad handshake"
    assert build_err(BadHandshake("x").to_err(), protocol_41=False) == b"\xff\x13\x04Bad handshake"
    # and to a connection over max_connections before its greeting: ff 10 04 "Too many ..."
    assert build_err(TooManyConnections().to_err(), protocol_41=False) == (
        b"\xff\x10\x04Too many connections"
    )


def test_without_the_marker_the_state_is_not_read_back() -> None:
    err = ErrPacket(1251, "08004", "Client does not support authentication protocol")
    assert parse_err(build_err(err, protocol_41=False)) == ErrPacket(1251, "HY000", err.message)


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (PRE_41_RESPONSE, False),
        (b"\x05\x00\x00", False),  # MariaDB: ff 13 04 Bad handshake
        (b"\x05\x00", False),  # MariaDB: ff 13 04 Bad handshake
        (b"\x05\x08\xff\xff\xff", False),  # CLIENT_SSL without 4.1: still no state
        (b"\x00\x02", True),  # the 4.1 bit alone: ff 13 04 #08S01 Bad handshake
        (b"\x05", True),  # too short for the flags: MariaDB sends #08S01
        (b"", True),
    ],
)
def test_the_client_flags_in_its_first_two_bytes_decide(packet: bytes, expected: bool) -> None:
    assert err_has_sqlstate(packet) is expected


def test_every_4_1_handshake_packet_gets_the_sqlstate() -> None:
    caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION
    hello = HandshakeResponse41(caps, 1 << 24, 45, "u", b"")
    assert err_has_sqlstate(build_handshake_response41(hello))
    assert err_has_sqlstate(build_ssl_request(SSLRequest(caps, 1 << 24, 45)))
    assert not err_has_sqlstate((caps & ~C.CLIENT_PROTOCOL_41).to_bytes(4, "little") + bytes(28))
