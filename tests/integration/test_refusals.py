"""Bad input gets a defined answer and loses nothing: wrong passwords, unknown users, odd
tokens, cleartext without TLS, malformed first packets, STARTTLS injection, slow clients."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest

from bridge.protocol.constants import Capability as C
from bridge.protocol.packets import parse_err
from bridge.scramble import native_token, sha2_token
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    Bridge,
    MakeBridge,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
    start_bridge,
)
from tests.integration.rawclient import CLIENT_CAPS, Raw, unknown_to_wrong
from tests.vectors import load

pytestmark = pytest.mark.integration


def denial(
    client: str, bridge: Bridge, user: str, password: str, transport: str = "tls"
) -> tuple[int, str]:
    with pytest.raises(Exception) as err:
        connect(client, bridge, user, password, transport)
    return error_of(err.value)


@pytest.mark.parametrize("client", ["pymysql", "connector", "mysqlclient"])
def test_unknown_user_and_wrong_password_look_the_same(bridge: Bridge, client: str) -> None:
    wrong = denial(client, bridge, "app", "not-the-password")
    unknown = denial(client, bridge, "nosuchuser", "not-the-password")
    assert wrong == (1045, "Access denied for user 'app'@'localhost' (using password: YES)")
    assert unknown == (
        1045,
        "Access denied for user 'nosuchuser'@'localhost' (using password: YES)",
    )


def test_mariadb_cli_denials(bridge: Bridge) -> None:
    for user in ("app", "nosuchuser"):
        done = mariadb_cli(bridge, user, "bad")
        assert done.returncode == 1
        assert (
            f"ERROR 1045 (28000): Access denied for user '{user}'@'localhost' (using password: YES)"
            in done.stderr
        )


def exchange(bridge: Bridge, user: str, plugin: str, token: bytes) -> list[bytes]:
    """The packets the bridge sends after a HandshakeResponse, up to its ERR or OK."""
    raw = Raw.connect(bridge.port)
    raw.greeting()
    raw.hello(user, token, plugin)
    packets = []
    while True:
        seq, payload = raw.read()
        packets.append(payload)
        if payload[:1] in (b"\x00", b"\xff"):
            raw.close()
            return packets
        raw.send(b"\x02" if payload == b"\x01\x04" else b"x" * 20, seq + 1)


def shape(packets: list[bytes]) -> list[bytes]:
    """What an observer can compare: markers, plugin names and error numbers, not nonces."""
    return [p[:1] + (p.split(b"\0")[0] if p[:1] == b"\xfe" else p[1:3]) for p in packets]


def test_unknown_user_exchange_is_stable_and_shaped_like_a_real_one(bridge: Bridge) -> None:
    # A decoy: the same plugin every time for one user@host, drawn from the plugins in use.
    for user in ("ghost1", "ghost2", "ghost3"):
        first = shape(exchange(bridge, user, "caching_sha2_password", b"y" * 32))
        assert all(
            shape(exchange(bridge, user, "caching_sha2_password", b"y" * 32)) == first
            for _ in range(3)
        )
        assert first[-1][:1] == b"\xff"
    for real in ("app", "nat", "sha"):  # every real account also ends in ERR 1045
        assert (
            shape(exchange(bridge, real, "caching_sha2_password", b"y" * 32))[-1][:3]
            == b"\xff\x15\x04"
        )


def decoy_plugin(bridge: Bridge, user: str) -> str:
    """The plugin the bridge shows for `user`, read off the wire: the AuthSwitchRequest's."""
    raw = Raw.connect(bridge.port)
    raw.greeting()
    raw.hello(user, b"y" * 32, "caching_sha2_password")
    payload = raw.read()[1]
    raw.close()
    return (
        payload[1:].split(b"\0")[0].decode() if payload[:1] == b"\xfe" else "caching_sha2_password"
    )


def test_unknown_user_costs_as_much_as_a_wrong_password(bridge: Bridge) -> None:
    """A clear password over the socket, checked against the stored hash: an unknown user
    pays for the same hash as a real account of the plugin it is shown with."""

    real_of = {
        "caching_sha2_password": "app",
        "mysql_native_password": "nat",
        "sha256_password": "sha",
    }
    ghosts = [f"ghost-{i}" for i in range(40)]
    shown = {ghost: decoy_plugin(bridge, ghost) for ghost in ghosts}
    assert set(shown.values()) <= set(real_of)
    ghost = next(g for g in ghosts if shown[g] == "caching_sha2_password")  # the costly hash
    real = real_of[shown[ghost]]
    ratio = unknown_to_wrong(str(bridge.socket), real, ghost, 25)
    assert 0.5 < ratio < 2.0, ratio


def test_empty_password_for_an_account_with_one(bridge: Bridge) -> None:
    assert denial("pymysql", bridge, "nat", "") == (
        1045,
        "Access denied for user 'nat'@'localhost' (using password: NO)",
    )
    assert denial("mysqlclient", bridge, "app", "")[0] == 1045


def test_password_for_an_account_without_one(bridge: Bridge) -> None:
    assert denial("pymysql", bridge, "nopw", "something")[0] == 1045


@pytest.mark.parametrize("length", [0, 1, 19, 21, 31, 33])
@pytest.mark.parametrize(
    ("user", "plugin"), [("nat", "mysql_native_password"), ("app", "caching_sha2_password")]
)
def test_tokens_of_the_wrong_length_fail(
    bridge: Bridge, user: str, plugin: str, length: int
) -> None:
    assert exchange(bridge, user, plugin, b"\x07" * length)[-1][:3] == b"\xff\x15\x04"


def test_2000_random_native_tokens_never_succeed(bridge: Bridge) -> None:
    # CVE-2012-2122: about 1 in 256 wrong answers got in. Every one must fail here.
    successes = 0
    for _ in range(2000):
        raw = Raw.connect(path=str(bridge.socket))
        raw.greeting()
        raw.hello("nat", os.urandom(20), "mysql_native_password")
        successes += raw.read()[1][:1] != b"\xff"
        raw.close()
    assert successes == 0


def test_2000_random_fast_auth_tokens_never_succeed(bridge: Bridge) -> None:
    connect("pymysql", bridge, "app", "app-pw", "tls").close()  # the fast-auth cache is warm
    fast = 0
    for _ in range(2000):
        raw = Raw.connect(path=str(bridge.socket))
        raw.greeting()
        raw.hello("app", os.urandom(32), "caching_sha2_password")
        fast += raw.read()[1] != b"\x01\x04"  # anything but perform_full_authentication
        raw.close()
    assert fast == 0
    raw = Raw.connect(path=str(bridge.socket))  # while the right token still gets in fast
    nonce = raw.greeting().scramble
    raw.hello("app", sha2_token(b"app-pw", nonce), "caching_sha2_password")
    assert raw.read()[1] == b"\x01\x03"
    raw.close()


def test_cleartext_over_plain_tcp_is_refused_before_any_check(bridge: Bridge) -> None:
    raw = Raw.connect(bridge.port)
    raw.greeting()
    raw.hello("nat", b"nat-pw\0", "mysql_clear_password")
    err = parse_err(raw.read()[1])
    assert err.errno == 3159 and "insecure transport" in err.message
    raw.close()


@pytest.fixture(scope="module")
def quick_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
) -> Iterator[Bridge]:
    """The shared bridge's setup with a 1 s connect_timeout: most malformed first packets
    are incomplete, so the bridge waits for the rest until the client's time is up (5 s
    each on the shared bridge)."""
    running = start_bridge(tmp_path_factory.mktemp("quick-bridge"), mariadb, certs,
                           server={"connect_timeout": 1})  # fmt: skip
    yield running
    running.stop()


@pytest.mark.parametrize("packet", load("malformed_first_packets_proxysql.json")["packets_hex"])
def test_malformed_first_packets_close_and_others_keep_working(
    quick_bridge: Bridge, packet: str
) -> None:
    bridge = quick_bridge
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as established:
        raw = Raw.connect(bridge.port, timeout=8)
        raw.greeting()
        raw.send_raw(bytes.fromhex(packet))
        answer = b""
        with contextlib.suppress(ConnectionError, TimeoutError):
            answer = raw.read()[1]
        assert answer == b"" or answer[:3] == b"\xff\x13\x04"  # nothing, or 1043 Bad handshake
        assert raw.closed()
        assert scalar(established, "SELECT 1") == 1
    assert mariadb_cli(bridge, "nat", "nat-pw").stdout.strip() == "nat@%"


@pytest.mark.parametrize(
    "auth_len",
    ["fb", "fc01", "fd0102", "fe01020304", "fe" + (2**63 + 5).to_bytes(8, "little").hex(), "ff"],
)
def test_cve_2017_3599_lengths_get_bad_handshake(bridge: Bridge, auth_len: str) -> None:
    raw = Raw.connect(bridge.port)
    raw.greeting()
    caps = CLIENT_CAPS
    raw.send(
        caps.to_bytes(4, "little")
        + bytes(4)
        + b"\x21"
        + bytes(23)
        + b"root\0"
        + bytes.fromhex(auth_len),
        1,
    )
    err = parse_err(raw.read()[1])
    assert (err.errno, err.sqlstate, err.message) == (1043, "08S01", "Bad handshake")
    assert raw.closed()
    assert mariadb_cli(bridge, "nat", "nat-pw").stdout.strip() == "nat@%"


def test_plaintext_behind_an_ssl_request_is_never_trusted(bridge: Bridge) -> None:
    """SSLRequest and a plaintext HandshakeResponse in one write: dropped, never authenticated."""
    opened_before = bridge.log.count("session open")
    raw = Raw.connect(bridge.port)
    nonce = raw.greeting().scramble
    ssl_request = (
        (CLIENT_CAPS | C.CLIENT_SSL).to_bytes(4, "little")
        + (1 << 24).to_bytes(4, "little")
        + b"\x21"
        + bytes(23)
    )
    from bridge.protocol.framing import frame
    from bridge.protocol.packets import HandshakeResponse41, build_handshake_response41

    hello = HandshakeResponse41(CLIENT_CAPS | C.CLIENT_SSL, 1 << 24, 33, "nat",
                                native_token(b"nat-pw", nonce), None, "mysql_native_password")  # fmt: skip
    raw.send_raw(frame(ssl_request, 1) + frame(build_handshake_response41(hello), 2))
    assert raw.closed()
    assert bridge.log.count("session open") == opened_before


def test_client_without_protocol_41_is_refused(bridge: Bridge) -> None:
    raw = Raw.connect(bridge.port)
    raw.greeting()
    raw.send(
        (C.CLIENT_LONG_PASSWORD).to_bytes(4, "little")
        + bytes(4)
        + b"\x21"
        + bytes(23)
        + b"nat\0\0",
        1,
    )
    assert parse_err(raw.read()[1]).errno == 1043


def test_slow_client_is_cut_at_connect_timeout(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(server={"connect_timeout": 1})
    raw = Raw.connect(bridge.port, timeout=5)
    raw.greeting()
    started = time.monotonic()
    assert raw.closed()
    assert 0.8 < time.monotonic() - started < 3
    assert mariadb_cli(bridge, "nat", "nat-pw").stdout.strip() == "nat@%"
