"""The pool's pure parts: finding the token's answer behind left-over bytes, the final
status of a result, and which capabilities keep connections apart."""

from bridge.protocol.codec import lenenc_bytes
from bridge.protocol.constants import Capability as C
from bridge.protocol.framing import frame
from bridge.upstream.pool import PoolKey, _Answer, _final_status

TOKEN = lenenc_bytes(b"0123456789abcdef0123456789abcdef")
ROW = TOKEN + lenenc_bytes(b"28800")
EOF_IN_TRANS = b"\xfe\x00\x00\x03\x00"  # EOF: warnings 0, status IN_TRANS | AUTOCOMMIT
EOF_IDLE = b"\xfe\x00\x00\x02\x00"


def answer_stream(leftover: bytes, end: bytes = EOF_IDLE) -> bytes:
    columns = frame(b"\x02", 1) + frame(b"\x03def\x00\x00\x00\x01t\x00" + bytes(13), 2)
    return leftover + columns + frame(b"\xfe\x00\x00\x02\x00", 4) + frame(ROW, 5) + frame(end, 6)


def test_the_answer_is_found_behind_an_unread_result_in_any_chunking() -> None:
    leftover = b"".join(frame(lenenc_bytes(str(i).encode()), i % 256) for i in range(2000))
    stream = answer_stream(leftover)
    for size in (1, 7, 100, 4096, len(stream)):
        answer, buf, found = _Answer(TOKEN), bytearray(), None
        for at in range(0, len(stream), size):
            buf += stream[at : at + size]
            found = answer.take(buf)
            if found is not None:
                break
        assert found == (ROW, EOF_IDLE)
        assert buf == b""


def test_nothing_is_taken_before_the_end_packet_is_complete() -> None:
    stream = answer_stream(b"")
    buf = bytearray(stream[:-1])
    assert _Answer(TOKEN).take(buf) is None


def test_final_status_from_eof_and_from_ok_that_replaces_it() -> None:
    assert _final_status(EOF_IN_TRANS, eof_deprecated=False) & 0x0001
    assert not _final_status(EOF_IDLE, eof_deprecated=False) & 0x0001
    ok_as_eof = b"\xfe\x00\x00\x03\x00\x00\x00"  # affected 0, insert id 0, status, warnings
    assert _final_status(ok_as_eof, eof_deprecated=True) == 0x0003


def test_pool_keys_ignore_per_hop_bits_but_not_the_stream_format() -> None:
    base = C.CLIENT_PROTOCOL_41 | C.CLIENT_MULTI_RESULTS
    a = PoolKey.of("app", b"pw", base | C.CLIENT_SSL | C.CLIENT_CONNECT_WITH_DB)
    assert a == PoolKey.of("app", b"pw", base)
    assert a != PoolKey.of("app", b"pw", base | C.CLIENT_DEPRECATE_EOF)
    assert a != PoolKey.of("app", b"other", base)  # a changed credential: another pool
    assert a != PoolKey.of("ops", b"pw", base)
    assert "pw" not in repr(a)
