"""SyncPoint: everything before the answer to the bridge's own sync query goes to the client,
byte for byte, however the stream is cut; the answer itself never does. The answers below
are MariaDB 10.11's own, captured for the token a0..af with a raw client."""

from __future__ import annotations

import pytest

from bridge.protocol.errors import ProtocolError
from bridge.protocol.framing import frame
from bridge.protocol.sync import HOLD_BACK, SyncPoint, sync_query

TOKEN = bytes(range(0xA0, 0xB0))
ANSWERS = {
    # column count, definition, EOF, row, EOF (no CLIENT_DEPRECATE_EOF)
    "eof": "010000010117000002036465660000000174000c3f0010000000fda10000000005000003fe0000"
    "02001100000410a0a1a2a3a4a5a6a7a8a9aaabacadaeaf05000005fe00000200",
    # column count, definition, row, OK with 0xFE (CLIENT_DEPRECATE_EOF)
    "deprecate_eof": "010000010117000002036465660000000174000c3f0010000000fda10000000011000003"
    "10a0a1a2a3a4a5a6a7a8a9aaabacadaeaf07000004fe000002000000",
    # SET character_set_results = utf16: the definition's names in UTF-16
    "utf16_names": "01000001011b00000206006400650066000000020074000c3f0010000000fda1000000000500"
    "0003fe000002001100000410a0a1a2a3a4a5a6a7a8a9aaabacadaeaf05000005fe00000200",
    # MARIADB_CLIENT_EXTENDED_METADATA: one more field in the definition
    "extended_metadata": "01000001011800000203646566000000017400000c3f0010000000fda1000000001100"
    "000310a0a1a2a3a4a5a6a7a8a9aaabacadaeaf07000004fe000002000000",
}


def result_set(rows: list[bytes]) -> bytes:
    """An earlier command's answer: column count, a definition, EOF, rows, EOF."""
    packets = [b"\x01", b"\x03def\x00\x00\x00\x01a\x00\x0c\x3f\x00" + bytes(9), b"\xfe\0\0\x02\0"]
    packets += [*rows, b"\xfe\0\0\x02\0"]
    return b"".join(frame(p, seq) for seq, p in enumerate(packets, 1))


# Rows that look like parts of the sync answer: a column count header, a row of another
# token, and bytes that would start a column count right before the real one.
TRICKY = result_set(
    [
        b"\x05" + b"\x01\x00\x00\x01\x01",
        b"\x10" + bytes(16),
        b"\x11" + b"\x05\xfe\x00\x00\x02\x00" + b"x" * 10,
        b"\x05\x01\x00\x00\x01\x01",
    ]
)


def feed_all(sync: SyncPoint, data: bytes, step: int) -> tuple[bytes, bool]:
    relayed = bytearray()
    done = False
    for at in range(0, len(data), step):
        assert not done, "nothing may come after the end"
        out, done = sync.feed(data[at : at + step])
        relayed += out
    return bytes(relayed), done


@pytest.mark.parametrize("answer", ANSWERS.values(), ids=ANSWERS.keys())
@pytest.mark.parametrize("step", [1, 2, 7, 64, 1 << 20])
@pytest.mark.parametrize("before", [b"", TRICKY, TRICKY * 200], ids=["none", "one", "many"])
def test_everything_before_the_answer_and_nothing_of_it(
    answer: str, step: int, before: bytes
) -> None:
    sync = SyncPoint(TOKEN)
    relayed, done = feed_all(sync, before + bytes.fromhex(answer), step)
    assert done
    assert relayed == before
    assert sync.received == len(before) + len(bytes.fromhex(answer))


def test_relays_as_it_goes_and_holds_back_only_a_tail() -> None:
    before = TRICKY * 500
    sync = SyncPoint(TOKEN)
    relayed, done = sync.feed(before)
    assert not done
    assert relayed == before[: len(before) - HOLD_BACK]
    rest, done = sync.feed(bytes.fromhex(ANSWERS["eof"]))
    assert done and relayed + rest == before


def test_an_answer_not_yet_complete_is_waited_for() -> None:
    answer = bytes.fromhex(ANSWERS["deprecate_eof"])
    sync = SyncPoint(TOKEN)
    assert sync.feed(TRICKY + answer[:-1]) == (b"", False)
    assert sync.feed(answer[-1:]) == (TRICKY, True)


def test_a_refused_sync_query_never_ends() -> None:
    """An ERR instead of the answer (a resource limit, say): nothing to tell it apart by,
    so no end is found; the relay's silence deadline ends the session."""
    sync = SyncPoint(TOKEN)
    err = frame(b"\xff\x1a\x04#42000User has exceeded the resource", 1)
    relayed, done = sync.feed(TRICKY + err)
    assert not done and relayed == b""  # (all of it within the held-back tail)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (ANSWERS["eof"] + "00", "sent more after"),
        (ANSWERS["eof"].replace("05000005fe", "05000005ff"), "not followed by the end"),
        (ANSWERS["eof"].replace("05000005fe", "05000007fe"), "out of sequence"),
        (ANSWERS["eof"].replace("1100000410a0", "1200000410a0"), "not a row of its own"),
        (ANSWERS["eof"].replace("05000003fe", "05000009fe"), "no start"),
        (ANSWERS["deprecate_eof"].replace("01000001011700", "01000001021700"), "no start"),
    ],
)
def test_anything_else_is_out_of_step(answer: str, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        SyncPoint(TOKEN).feed(TRICKY + bytes.fromhex(answer))


def test_the_query_is_one_binary_column_with_limit_1() -> None:
    assert sync_query(TOKEN) == (
        b"SELECT X'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' AS t LIMIT 1"
    )  # fmt: skip
    with pytest.raises(ValueError):
        SyncPoint(b"short")
