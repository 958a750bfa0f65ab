"""The pool's parts that need no server: finding the token's answer behind left-over
bytes, the final status of a result, which capabilities keep connections apart, and the
check of a connection that came back (fed by hand)."""

import asyncio
import logging
from collections.abc import Callable
from typing import cast

import pytest

from bridge.config import PoolConfig
from bridge.netio import Conn
from bridge.protocol.codec import lenenc_bytes
from bridge.protocol.constants import Capability as C
from bridge.protocol.framing import frame
from bridge.protocol.packets import HandshakeV10
from bridge.upstream.login import UpstreamSession
from bridge.upstream.pool import PoolKey, UpstreamPool, _Answer, _final_status

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


# --- the check of a connection that came back, read by its sink -----------------------------


class FakeConn:
    """What the check uses of a Conn: writes are recorded, bytes come in through `sink`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.closed: asyncio.Future[None] = loop.create_future()
        self.sink: Callable[[bytes], None] | None = None
        self.on_pause: object = None
        self.sent: list[bytes] = []
        self.aborted = False

    def hold_writes(self) -> None: ...

    def release_writes(self) -> None: ...

    def send_packet(self, payload: bytes, seq: int) -> int:
        self.sent.append(payload)
        return seq + 1

    def write(self, data: bytes) -> None:
        """Framed packets, recorded as their payloads."""
        while data:
            length = int.from_bytes(data[:3], "little")
            self.sent.append(data[4 : 4 + length])
            data = data[4 + length :]

    def has_buffered(self) -> bool:
        return False

    def abort(self) -> None:
        self.aborted = True
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        self.abort()


OK_IDLE = b"\x00\x00\x00\x02\x00\x00\x00"


def returning(
    timeout: float = 5.0, current_user: bytes = b"app@%", pool: UpstreamPool | None = None,
    version: str = "10.11",
) -> tuple[UpstreamPool, FakeConn, PoolKey, bytes]:  # fmt: skip
    loop = asyncio.get_running_loop()
    pool = pool or UpstreamPool(PoolConfig(), timeout)
    conn = FakeConn(loop)
    greeting = HandshakeV10(version, 7, bytes(20), 0, 45, 2, "mysql_native_password")
    session = UpstreamSession(cast(Conn, conn), greeting, C.CLIENT_PROTOCOL_41)
    key = PoolKey.of("app", b"pw", C.CLIENT_PROTOCOL_41)
    pool.give_back(key, session, pool.generation)
    query = conn.sent[0]
    assert query[:1] == b"\x03" and b"\x1f" in conn.sent  # COM_QUERY, COM_RESET_CONNECTION
    assert b"CAST(CURRENT_USER() AS BINARY) AS u LIMIT 1" in query
    token = lenenc_bytes(bytes.fromhex(query.split(b"'")[1].decode()))
    row = token + lenenc_bytes(b"28800") + lenenc_bytes(current_user)
    columns = frame(b"\x02", 1) + frame(b"\x03def" + bytes(17), 2)
    answers = columns + frame(EOF_IDLE, 3) + frame(row, 4) + frame(EOF_IDLE, 5)
    for _ in conn.sent[1:-1]:  # SET SESSION profiling (MariaDB), COM_RESET_CONNECTION,
        answers += frame(OK_IDLE, 1)  # SET ROLE NONE (MariaDB)
    assert conn.sent[-1] == b"\x1b\x01\x00"  # COM_SET_OPTION: multi-statements off
    return pool, conn, key, answers + frame(EOF_IDLE, 1)


async def test_a_checked_connection_is_kept_whatever_the_chunking() -> None:
    pool, conn, _, stream = returning()
    assert conn.sink is not None and pool.idle == 0
    for at in range(0, len(stream), 3):
        conn.sink(stream[at : at + 3])
    assert pool.idle == 1 and conn.sink is None and not conn.aborted
    assert not conn.closed._callbacks  # the check let go of the connection


async def test_what_the_reset_leaves_is_ended_and_must_be_answered() -> None:
    """SET ROLE NONE (MariaDB) and COM_SET_OPTION go with the reset; an ERR to one of them
    (or anything but their OK or EOF) means the connection is not kept."""
    pool, conn, _, stream = returning(version="5.5.5-10.11.6-MariaDB")
    assert conn.sent[1:4] == [
        b"\x03SET SESSION profiling = 1",
        b"\x03SET SESSION profiling_history_size = 0",
        b"\x03SET SESSION profiling = 0",
    ]
    assert conn.sent[4:6] == [b"\x1f", b"\x03SET ROLE NONE"]
    assert conn.sink is not None
    conn.sink(stream)
    assert pool.idle == 1 and not conn.aborted
    pool, conn, _, stream = returning()
    assert conn.sink is not None
    conn.sink(stream[: -len(frame(EOF_IDLE, 1))] + frame(b"\xff\x17\x04#HY000no", 1))
    assert pool.idle == 0 and conn.aborted and pool.discarded == 1


async def test_bytes_after_the_reset_answer_mean_out_of_step() -> None:
    pool, conn, _, stream = returning()
    assert conn.sink is not None
    conn.sink(stream + frame(b"\x00\x00\x00\x02\x00\x00\x00", 2))
    assert pool.idle == 0 and conn.aborted and pool.discarded == 1


async def test_no_answer_in_time_is_not_kept() -> None:
    pool, conn, _, stream = returning(timeout=0.05)
    assert conn.sink is not None
    conn.sink(stream[:10])
    await asyncio.sleep(0.1)
    assert pool.idle == 0 and conn.aborted and pool.discarded == 1


async def test_a_connection_closed_before_the_answer_is_not_kept() -> None:
    pool, conn, _, _ = returning()
    conn.closed.set_result(None)
    await asyncio.sleep(0)  # done callbacks run on the loop
    assert pool.idle == 0 and pool.discarded == 1


async def test_a_connection_that_came_back_as_another_account_is_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The upstream gave the anonymous ''@'localhost' for 'app': that connection is not
    kept, the account is asked again on its next login, and the ERROR is said once."""
    pool, conn, _, stream = returning(current_user=b"@localhost")
    pool.accounts.judge("app", "app@%")  # as if its first login had been confirmed
    assert conn.sink is not None
    conn.sink(stream)
    assert pool.idle == 0 and conn.closed.done() and pool.discarded == 1
    assert not pool.accounts.confirmed("app")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "logged the bridge in as ''@'localhost', not as 'app'" in errors[0]
    _, again, _, stream = returning(current_user=b"@localhost", pool=pool)
    assert again.sink is not None
    again.sink(stream)  # the same again: not kept, and not said twice
    assert pool.idle == 0 and pool.discarded == 2
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    _, fine, _, stream = returning(current_user=b"app@10.%", pool=pool)
    assert fine.sink is not None
    fine.sink(stream)  # the user's own row, whichever host: kept, and confirmed
    assert pool.idle == 1 and pool.accounts.confirmed("app")


async def test_a_reload_asks_every_account_again() -> None:
    pool, conn, _, stream = returning()
    assert conn.sink is not None
    conn.sink(stream)
    assert pool.accounts.confirmed("app")
    before = pool.generation
    pool.clear()
    assert not pool.accounts.confirmed("app")
    assert pool.account_check(pool.generation) is pool.accounts
    # A connection logged in before the reload (maybe with old credentials) tells nothing
    # of the new ones: neither what a session asks on it nor its give-back check counts.
    assert pool.account_check(before) is not pool.accounts
    old = pool.account_check(before)
    old.judge("app", "app@%")
    assert not pool.accounts.confirmed("app")


async def test_an_old_connection_coming_back_does_not_judge_the_new_credentials() -> None:
    pool, conn, key, stream = returning()
    pool.clear()  # a reload while the check is under way
    assert conn.sink is not None
    conn.sink(stream)
    assert not pool.accounts.confirmed(key.user) and pool.idle == 0
