"""ERR packets to clients that did not set CLIENT_PROTOCOL_41 carry no SQLSTATE, as mysqld
sends them: the same bytes to the bridge and to a real MariaDB 10.11, answer for answer."""

from __future__ import annotations

import pytest

from bridge.protocol.constants import Capability as C
from sandbox.mariadb import MariaDB
from tests.integration.harness import Bridge, mariadb_cli
from tests.integration.rawclient import Raw

pytestmark = pytest.mark.integration

# HandshakeResponse320: int<2> flags (LONG_PASSWORD | LONG_FLAG, no PROTOCOL_41), int<3> max
# packet size, string<NUL> user, string<EOF> scrambled password
PRE_41_RESPONSE = b"\x05\x00" + b"\xff\xff\xff" + b"nobody\0" + b"abcdefgh"


def answer(port: int, payload: bytes) -> tuple[int, bytes, bool]:
    """(sequence id, payload) of the answer to `payload` sent after the greeting, and
    whether the server closed the connection after it."""
    raw = Raw.connect(port, timeout=5)
    try:
        raw.greeting()
        raw.send(payload, 1)
        seq, reply = raw.read()
        return seq, reply, raw.closed()
    finally:
        raw.close()


@pytest.mark.parametrize(
    "payload",
    [b"\x05\x00\x00", b"\x05\x00\xff\xff\xff", b"\x05\x00"],
    ids=["pre41-3-bytes", "pre41-5-bytes", "pre41-flags-only"],
)
def test_a_broken_pre_4_1_handshake_gets_mariadbs_own_bytes(
    bridge: Bridge, mariadb: MariaDB, payload: bytes
) -> None:
    direct = answer(mariadb.port, payload)
    assert direct == (2, b"\xff\x13\x04Bad handshake", True)  # what MariaDB 10.11 sends
    assert answer(bridge.port, payload) == direct


def test_a_broken_4_1_handshake_keeps_its_sqlstate(bridge: Bridge, mariadb: MariaDB) -> None:
    for payload in (b"\x00\x02", b"\x05", C.CLIENT_PROTOCOL_41.to_bytes(4, "little") + bytes(5)):
        direct = answer(mariadb.port, payload)
        assert direct == (2, b"\xff\x13\x04#08S01Bad handshake", True)
        assert answer(bridge.port, payload) == direct


def test_a_whole_pre_4_1_response_is_refused_without_sqlstate(
    bridge: Bridge, mariadb: MariaDB
) -> None:
    """MariaDB would try to log such a client in (here 1251, the account's plugin is too
    new for it); the bridge refuses every pre-4.1 client with 1043. Both leave the SQLSTATE
    out, so an old client reads the message where it expects it."""
    seq, reply, closed = answer(mariadb.port, PRE_41_RESPONSE)
    assert (seq, reply[:3], closed) == (2, b"\xff\xe3\x04", True)
    assert reply[3:4] != b"#"
    assert answer(bridge.port, PRE_41_RESPONSE) == (2, b"\xff\x13\x04Bad handshake", True)
    assert "pre-4.1 clients are not supported" in bridge.log
    assert mariadb_cli(bridge, "nat", "nat-pw").stdout.strip() == "nat@%"
