import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocol.errors import ProtocolError
from bridge.protocol.proxy_header import ProxiedAddress, build_v2, take_header


def test_v1() -> None:
    buf = bytearray(b"PROXY TCP4 10.1.2.3 127.0.0.1 51234 3307\r\n\x20\x00\x00\x01rest")
    assert take_header(buf) == ProxiedAddress("10.1.2.3", 51234)
    assert buf == b"\x20\x00\x00\x01rest"  # what follows is left for the MySQL protocol
    assert take_header(bytearray(b"PROXY UNKNOWN\r\n")) == ProxiedAddress(None, None)
    assert take_header(bytearray(b"PROXY TCP6 ::1 ::1 1 2\r\n")) == ProxiedAddress("::1", 1)


def test_v2() -> None:
    header = build_v2("10.9.8.7", 40000, "127.0.0.1", 3307)
    buf = bytearray(header + b"after")
    assert take_header(buf) == ProxiedAddress("10.9.8.7", 40000) and buf == b"after"
    six = build_v2("2001:db8::5", 1, "2001:db8::1", 2)
    assert take_header(bytearray(six)) == ProxiedAddress("2001:db8::5", 1)
    local = bytearray(b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
    assert take_header(local) == ProxiedAddress(None, None)


def test_partial_headers_wait() -> None:
    for whole in (
        b"PROXY TCP4 10.1.2.3 127.0.0.1 51234 3307\r\n",
        build_v2("10.0.0.1", 1, "10.0.0.2", 2),
    ):
        for cut in range(len(whole)):
            buf = bytearray(whole[:cut])
            assert take_header(buf) is None and len(buf) == cut


@pytest.mark.parametrize("bad", [b"\x20\x00\x00\x01hello", b"GET / HTTP/1.0\r\n", b"PROXY TCP4 x y 1 2\r\n",
                                 b"PROXY " + b"1" * 200, b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x00"])  # fmt: skip
def test_anything_else_is_refused(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        take_header(bytearray(bad))


@settings(deadline=None)  # a busy machine is no failure
@given(st.binary(max_size=120))
def test_fuzz_only_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        take_header(bytearray(data))
