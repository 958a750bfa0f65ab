import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.protocol.constants import MAX_PAYLOAD
from bridge.protocol.framing import frame
from bridge.protocol.scanner import CommandScanner

CHANGE_USER = frame(b"\x11bob\0\0db\0", 0)


def run(scanner: CommandScanner, chunks: list[bytes]) -> tuple[bytes, bytes | None]:
    """Feed chunks until the scanner holds a packet; then everything not yet fed is what
    the connection keeps buffered, so it joins the held bytes."""
    out = []
    for i, chunk in enumerate(chunks):
        forward, held = scanner.feed(chunk)
        out.append(forward)
        if held is not None:
            return b"".join(out), held + b"".join(chunks[i + 1 :])
    return b"".join(out), None


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_commands_pass_unchanged_in_any_chunking(cuts: list[int]) -> None:
    stream = frame(b"\x03select 1", 0) + frame(b"\x0e", 0) + frame(b"\x16select ?", 0)
    forward, held = run(CommandScanner(), chunked(stream, cuts))
    assert held is None and forward == stream


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_change_user_is_held_at_a_command_boundary(cuts: list[int]) -> None:
    before = frame(b"\x03select 1", 0)
    forward, held = run(CommandScanner(), chunked(before + CHANGE_USER + b"rest", cuts))
    assert forward == before
    assert held == CHANGE_USER + b"rest"


def test_0x11_inside_a_query_is_not_a_command() -> None:
    stream = frame(b"\x03\x11\x11\x11", 0) + frame(b"\x11" * 10, 1)  # data packet, seq 1
    assert run(CommandScanner(), [stream]) == (stream, None)


def test_continuation_of_a_16_mib_packet_is_not_a_command() -> None:
    big = frame(b"\x03" + b"\x11" * (MAX_PAYLOAD - 1) + b"\x11tail", 0)
    assert run(CommandScanner(), [big]) == (big, None)


def test_load_data_stream_whose_ids_wrap_is_not_a_command() -> None:
    scanner = CommandScanner()
    stream = b"".join(frame(b"\x11row", seq & 0xFF) for seq in range(2, 300))
    assert run(scanner, [stream]) == (stream, None)


def test_a_command_right_behind_a_load_data_terminator_with_id_255_is_held() -> None:
    # The empty packet ends the file; the server reads the next packet as a command, even
    # before it has answered the LOAD DATA: so must the scanner (not as wrapped file data).
    load = b"".join(frame(b"row", seq) for seq in range(2, 255)) + frame(b"", 255)
    assert run(CommandScanner(), [load + CHANGE_USER]) == (load, CHANGE_USER)


def test_an_empty_packet_that_ends_a_16_mib_piece_does_not_end_the_stream() -> None:
    # 0xFFFFFF bytes at id 254, then the empty packet that completes them at id 255: the
    # file goes on, so the packet with id 0 is file data.
    big = frame(b"\x11" * MAX_PAYLOAD, 254)[: 4 + MAX_PAYLOAD]
    stream = frame(b"row", 253) + big + frame(b"", 255) + frame(b"\x11more", 0)
    assert run(CommandScanner(), [stream]) == (stream, None)


def test_server_output_makes_a_fresh_boundary() -> None:
    scanner = CommandScanner()
    load = b"".join(frame(b"row", seq & 0xFF) for seq in range(2, 256))  # ends on seq 255
    assert run(scanner, [load]) == (load, None)
    scanner.server_spoke()
    assert run(scanner, [CHANGE_USER])[1] == CHANGE_USER


def test_empty_packet_is_not_held_back() -> None:
    # LOAD DATA's terminator: a header with no payload, after which the client waits.
    assert CommandScanner().feed(b"\x00\x00\x00\x05") == (b"\x00\x00\x00\x05", None)


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_a_query_that_may_be_a_kill_is_held_in_any_chunking(cuts: list[int]) -> None:
    before = frame(b"\x03SELECT 1", 0) + frame(b"\x0e", 0)
    for kill in (
        frame(b"\x03kill 5", 0),
        frame(b"\x03 /* c */ KILL 5", 0),
        frame(b"\x0c\5\0\0\0", 0),
    ):
        forward, held = run(CommandScanner(), chunked(before + kill, cuts))
        assert forward == before and held == kill


def test_queries_that_cannot_start_a_kill_pass() -> None:
    for sql in (b"SELECT 1", b"INSERT INTO t VALUES (1)", b"SET @a=1", b"(SELECT 1)", b""):
        stream = frame(b"\x03" + sql, 0)
        assert CommandScanner().feed(stream) == (stream, None)


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_quit_is_held_at_a_command_boundary(cuts: list[int]) -> None:
    before, quit_packet = frame(b"\x03select 1", 0), frame(b"\x01", 0)
    forward, held = run(CommandScanner(), chunked(before + quit_packet, cuts))
    assert (forward, held) == (before, quit_packet)


def test_0x01_in_a_data_packet_is_not_a_quit() -> None:
    stream = frame(b"\x03load data local infile 'x' into table t", 0) + frame(b"\x01", 2)
    assert run(CommandScanner(), [stream]) == (stream, None)


def test_a_scanner_inside_a_packet_passes_its_rest_and_its_continuations() -> None:
    """A long held query passed on: the rest of its packet, a continuation packet with id
    0 (not a command: it continues a 16 MiB packet), then the next command is seen."""
    rest = b"y" * 10
    continuation = (5).to_bytes(3, "little") + b"\x00" + b"\x11abcd"  # looks like a change
    stream = rest + continuation + CHANGE_USER
    forward, held = CommandScanner.inside(len(rest), True).feed(stream)
    assert forward == rest + continuation and held == CHANGE_USER
    forward, held = CommandScanner.inside(len(rest), False).feed(rest + CHANGE_USER)
    assert forward == rest and held == CHANGE_USER
