"""What an idle TLS leg keeps: OpenSSL's memory, measured with glibc's mallinfo2 (the heap
in use, chunk headers included) around many legs at once, against an in-process TLS peer.

- A memory BIO keeps room for the most it ever held: bytes go through it in pieces, so a
  leg that once carried a large result does not keep a buffer of its size.
- OpenSSL 3.0 keeps a 16 KiB record buffer after reading a TLS 1.3 NewSessionTicket until
  the next write: a leg idle after its login must not keep it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.netio import Conn
from tests.test_netio_writes import Transport, make, tls_pair

LEGS = 200


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")
    ]  # fmt: skip


def heap_in_use() -> int:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


class Server:
    """The peer: a server-side SSLObject over memory BIOs, pumped by hand."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def take(self, transport: Transport) -> None:
        for data in transport.writes:
            self.incoming.write(data)
        transport.writes.clear()

    def read(self) -> bytes:
        got = b""
        with contextlib.suppress(ssl.SSLWantReadError):
            while chunk := self.tls.read(1 << 20):
                got += chunk
        return got


async def client_leg(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> tuple[
    Conn, Transport, Server
]:  # fmt: skip
    """A bridge leg in the client role, its TLS handshake done with a fresh server."""
    conn, transport = make()
    server = Server(server_ctx)
    handshake = asyncio.ensure_future(conn.start_tls(client_ctx, server_side=False))
    while not handshake.done():
        server.take(transport)
        with contextlib.suppress(ssl.SSLWantReadError):
            server.tls.do_handshake()
        if server.outgoing.pending:
            conn.data_received(server.outgoing.read())
        await asyncio.sleep(0)
    await handshake
    server.take(transport)
    server.tls.do_handshake()  # the client's Finished: the server now sends its tickets
    return conn, transport, server


def per_leg_growth(tmp_path: Path, use: Callable[[Conn, Transport, Server], None]) -> float:
    """Heap growth per idle leg (KiB) once each of LEGS legs has done `use`."""
    server_ctx, client_ctx = tls_pair(tmp_path)
    server_ctx.num_tickets = 2  # as MariaDB's OpenSSL sends
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3

    async def go() -> float:
        for _ in range(5):  # caches and free lists settle
            use(*await client_leg(server_ctx, client_ctx))
        gc.collect()
        before = heap_in_use()
        legs = []
        for _ in range(LEGS):
            conn, transport, server = await client_leg(server_ctx, client_ctx)
            use(conn, transport, server)
            legs.append(conn)  # the server side is dropped: only the leg stays
        gc.collect()
        return (heap_in_use() - before) / LEGS / 1024

    return asyncio.run(go())


def login_like(conn: Conn, transport: Transport, server: Server) -> None:
    """The client speaks first, then the server's tickets arrive with its answer: the
    order of an upstream login (HandshakeResponse41, then NewSessionTicket and OK)."""
    conn.write(b"hello")
    server.take(transport)
    assert server.read() == b"hello"
    server.tls.write(b"answer")
    conn.data_received(server.outgoing.read())  # read as a login reads: in packet mode
    assert conn.take_buffered() == b"answer"


def large_result(conn: Conn, transport: Transport, server: Server) -> None:
    login_like(conn, transport, server)
    block = bytes(range(256)) * 4096  # 1 MiB
    server.tls.write(block)
    records = server.outgoing.read()
    got = bytearray()
    conn.sink = got.extend
    for start in range(0, len(records), 256 * 1024):  # as a socket read gives them
        conn.data_received(records[start : start + 256 * 1024])
    conn.sink = None
    assert got == block


@pytest.mark.skipif(not hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2"), reason="not glibc")
def test_an_idle_tls_13_leg_keeps_no_record_buffer_after_the_tickets(tmp_path: Path) -> None:
    # about 22 KiB of OpenSSL state per leg; 16 more with the record buffer kept
    assert per_leg_growth(tmp_path, login_like) < 30


@pytest.mark.skipif(not hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2"), reason="not glibc")
def test_a_leg_that_carried_a_large_result_keeps_no_buffer_of_its_size(tmp_path: Path) -> None:
    # with 256 KiB in the memory BIO at once it kept some 340 KiB
    assert per_leg_growth(tmp_path, large_result) < 60
