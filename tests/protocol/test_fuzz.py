"""Fuzzing the parsers: malformed input raises ProtocolError and nothing else."""

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.protocol.constants import Capability as C
from bridge.protocol.errors import ProtocolError
from bridge.protocol.framing import take_packet
from bridge.protocol.packets import (
    parse_auth_more_data,
    parse_auth_switch_request,
    parse_change_user,
    parse_err,
    parse_handshake_response41,
    parse_handshake_v10,
    parse_ok,
    parse_ssl_request,
)
from tests.vectors import load

PACKETS = load("packets.json")
ALL_CAPS = int(sum(C))


def _change_user_all_caps(data: bytes) -> Any:
    return parse_change_user(data, ALL_CAPS)


def _change_user_no_caps(data: bytes) -> Any:
    return parse_change_user(data, 0)


PARSERS: list[Callable[[bytes], Any]] = [
    parse_handshake_v10,
    parse_handshake_response41,
    parse_ssl_request,
    parse_auth_switch_request,
    parse_auth_more_data,
    parse_ok,
    parse_err,
    _change_user_all_caps,
    _change_user_no_caps,
]

SEEDS = [
    bytes.fromhex(v.get("payload_hex") or v["frame_hex"][8:])
    for v in PACKETS.values()
    if isinstance(v, dict) and ("payload_hex" in v or "frame_hex" in v)
]


def only_protocol_errors(parse: Callable[[bytes], Any], data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        parse(data)


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400))
def test_random_bytes(parse: Callable[[bytes], Any], data: bytes) -> None:
    only_protocol_errors(parse, data)


@st.composite
def mutated_seed(draw: st.DrawFn) -> bytes:
    """A real packet, truncated, with bytes flipped, or with bytes inserted."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=9))
    return bytes(data)


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=400, deadline=None)
@given(data=mutated_seed())
def test_mutated_real_packets(parse: Callable[[bytes], Any], data: bytes) -> None:
    only_protocol_errors(parse, data)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64), limit=st.integers(0, 100))
def test_deframer(data: bytes, limit: int) -> None:
    buf = bytearray(data)
    try:
        while take_packet(buf, limit) is not None:
            pass
    except ProtocolError:
        pass


@pytest.mark.parametrize(
    "auth_len",
    ["fb", "fc01", "fd0102", "fe01020304", "fe" + (2**63 + 5).to_bytes(8, "little").hex(), "ff"],
)
def test_cve_2017_3599_auth_lengths(auth_len: str) -> None:
    caps = (C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH
            | C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)  # fmt: skip
    payload = caps.to_bytes(4, "little") + bytes(4) + b"\x21" + bytes(23) + b"root\0"
    with pytest.raises(ProtocolError):
        parse_handshake_response41(payload + bytes.fromhex(auth_len))
