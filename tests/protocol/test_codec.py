import pytest

from bridge.protocol.codec import Reader, lenenc_bytes, lenenc_int, nul_bytes
from bridge.protocol.errors import ProtocolError


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (250, "fa"),
        (251, "fcfb00"),
        (0xFFFF, "fcffff"),
        (0x10000, "fd000001"),
        (0xFFFFFF, "fdffffff"),
        (0x1000000, "fe0000000100000000"),
        (2**64 - 1, "feffffffffffffffff"),
    ],
)
def test_lenenc_int_round_trip(value: int, encoded: str) -> None:
    assert lenenc_int(value).hex() == encoded
    assert Reader(bytes.fromhex(encoded)).lenenc_int() == value


@pytest.mark.parametrize("encoded", ["fb", "ff", "fc01", "fd0102", "fe01020304050607", ""])
def test_bad_lenenc_int_is_a_protocol_error(encoded: str) -> None:
    # CVE-2017-3599: 0xFE with fewer than 8 bytes behind it, or 0xFB/0xFF, must not be read.
    with pytest.raises(ProtocolError):
        Reader(bytes.fromhex(encoded)).lenenc_int()


def test_lenenc_string_longer_than_the_packet_is_refused() -> None:
    data = b"\xfe" + (2**63 + 5).to_bytes(8, "little") + b"abc"
    with pytest.raises(ProtocolError):
        Reader(data).lenenc_bytes()


def test_strings() -> None:
    r = Reader(nul_bytes(b"root") + lenenc_bytes(b"x" * 300) + b"tail")
    assert r.nul_bytes() == b"root"
    assert r.lenenc_bytes() == b"x" * 300
    assert r.nul_bytes_or_rest() == b"tail"
    assert r.at_end()


def test_unterminated_string_is_refused() -> None:
    with pytest.raises(ProtocolError):
        Reader(b"no terminator").nul_bytes()


def test_nul_inside_a_nul_string_cannot_be_built() -> None:
    with pytest.raises(ValueError):
        nul_bytes(b"a\0b")
