import pytest

from bridge.protocol.constants import MAX_PAYLOAD
from bridge.protocol.errors import ProtocolError
from bridge.protocol.framing import (
    Packet,
    PacketHead,
    drop_front,
    frame,
    take_head,
    take_header,
    take_packet,
)


def test_small_packet() -> None:
    assert frame(b"\x03select 1", 0).hex() == "0900000003" + b"select 1".hex()


def test_empty_payload_is_a_header_only() -> None:
    assert frame(b"", 7) == b"\x00\x00\x00\x07"


def test_split_at_16_mib_and_empty_terminator() -> None:
    payload = b"a" * MAX_PAYLOAD
    data = frame(payload, 3)
    assert data[:4] == b"\xff\xff\xff\x03"
    assert data[-4:] == b"\x00\x00\x00\x04"  # exact multiple: an empty packet ends it
    buf = bytearray(data)
    packet = take_packet(buf, 1 << 30)
    assert packet is not None
    assert (packet.seq, packet.last_seq, len(packet.payload)) == (3, 4, MAX_PAYLOAD)
    assert not buf


def test_join_of_a_20_mib_payload() -> None:
    payload = bytes(range(256)) * (20 * 4096)
    buf = bytearray(frame(payload, 0) + frame(b"next", 2))
    first = take_packet(buf, 1 << 30)
    assert first is not None and first.payload == payload and first.last_seq == 1
    second = take_packet(buf, 1 << 30)
    assert second is not None and second.payload == b"next" and second.seq == 2


def test_partial_input_waits() -> None:
    data = frame(b"hello", 0)
    for cut in range(len(data)):
        buf = bytearray(data[:cut])
        assert take_packet(buf, 100) is None
        assert len(buf) == cut  # nothing consumed


def test_oversized_payload_is_refused_from_the_header() -> None:
    with pytest.raises(ProtocolError):
        take_packet(bytearray(b"\xff\xff\x00\x01"), 1000)


def test_out_of_order_continuation_is_refused() -> None:
    data = bytearray(frame(b"x" * MAX_PAYLOAD, 0))
    data[MAX_PAYLOAD + 4 + 3] = 9  # the continuation's sequence id
    with pytest.raises(ProtocolError):
        take_packet(data, 1 << 30)


def test_a_header_over_the_limit_is_refused_before_its_body_arrives() -> None:
    from bridge.protocol.errors import PacketTooLarge

    with pytest.raises(PacketTooLarge):
        take_packet(bytearray(b"\xff\xff\xff\x00\x11"), 1 << 16)
    with pytest.raises(PacketTooLarge):  # the parts add up over the limit
        take_packet(bytearray(b"\xff\xff\xff\x00" + bytes(MAX_PAYLOAD) + b"\x10\x00\x00\x01"),
                    MAX_PAYLOAD + 8)  # fmt: skip


def test_completed_parts_are_not_copied_while_the_rest_arrives() -> None:
    """take_packet is called on every read; until the whole packet is there it looks at
    headers only, so a 64 MiB packet read in 1 MiB pieces costs no 64 MiB copy per piece."""
    import tracemalloc

    data = frame(bytes(4 * MAX_PAYLOAD), 0)
    buf = bytearray(data[: 3 * MAX_PAYLOAD + 100])  # three whole parts, then a piece
    tracemalloc.start()
    try:
        for _ in range(20):
            assert take_packet(buf, 1 << 30) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 16


def test_take_head_takes_a_short_packet_whole_and_only_the_start_of_a_long_one() -> None:
    short = bytearray(frame(b"\x03 select 1", 0) + b"next")
    assert take_head(short, 16, 1 << 30) == Packet(0, b"\x03 select 1", 0)
    assert short == b"next"
    long = bytearray(frame(b"\x03" + b" " * 40, 0))
    assert take_head(bytearray(long[:19]), 16, 1 << 30) is None  # the head is not all here
    head = take_head(long, 16, 1 << 30)
    assert isinstance(head, PacketHead)
    assert (head.seq, head.length, head.head) == (0, 41, b"\x03" + b" " * 15)
    assert head.raw == bytes(frame(b"\x03" + b" " * 40, 0)[:20])
    assert (head.remaining, head.continues) == (25, False) and len(long) == 25  # left to stream
    huge = bytearray(frame(b"\x03" + b"x" * MAX_PAYLOAD, 0)[:100])
    first = take_head(huge, 16, 1 << 30)
    assert isinstance(first, PacketHead) and first.continues
    assert first.remaining == MAX_PAYLOAD - 16


def test_take_header_and_drop_front() -> None:
    buffer = bytearray(b"\x05\x00\x00\x07abc")
    assert take_header(bytearray(b"\x05\x00\x00")) is None
    assert take_header(buffer) == (5, 7) and buffer == b"abc"
    assert drop_front(buffer, 2) == 2 and buffer == b"c"
    assert drop_front(buffer, 5) == 1 and buffer == b""
    assert drop_front(buffer, 5) is None
