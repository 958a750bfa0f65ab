"""One leg of a connection (client<->bridge or bridge<->upstream) as an asyncio Protocol.

TLS runs over ssl.MemoryBIO, so that whatever arrived behind an SSLRequest is handed to the
TLS engine (which authenticates it) and never read as plaintext. Two modes:
- packet mode: bytes collect in a buffer; `read_packet()` takes whole packets off it.
- relay mode: `sink` is set and every decrypted chunk goes straight to it.

Back-pressure: in packet mode a leg stops reading from its socket while more than
`read_limit` bytes wait in its buffer and nobody is reading them (a throttle delay, a
backend call); it reads on as soon as someone waits for a packet again. The packet size
limits of `read_packet` bound what a reader can make the buffer hold.

`peer_uid()` asks the kernel who is at the other end of a Unix-socket leg (SO_PEERCRED).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import Callable
from typing import TypeVar, cast

from bridge.protocol.framing import Packet, frame, take_packet

T = TypeVar("T")
DEFAULT_READ_LIMIT = 1 << 20
# A memory BIO keeps, for the life of its connection, room for the most it ever held at
# once. So bytes go through one in pieces: a 256 KiB read would otherwise leave every leg
# that once carried a large result holding some 340 KiB, and the handshake's server flight
# (the certificate) about 3 KiB.
TLS_PIECE = 16 * 1024  # encrypted bytes given to the TLS engine at a time (one record or so)
HANDSHAKE_PIECE = 512


class ConnectionClosed(ConnectionError):
    pass


class Conn(asyncio.Protocol):
    # Two per relayed session, thousands at once: no __dict__ each.
    __slots__ = (
        "_buf",
        "_eof",
        "_handshaking",
        "_held",
        "_loop",
        "_reading_paused",
        "_tls",
        "_tls_in",
        "_tls_out",
        "_waiter",
        "authenticated",
        "bytes_in",
        "bytes_out",
        "closed",
        "on_pause",
        "read_limit",
        "sink",
        "transport",
    )  # fmt: skip

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._tls: ssl.SSLObject | None = None
        self._tls_in: ssl.MemoryBIO  # made by start_tls: most legs never need them
        self._tls_out: ssl.MemoryBIO
        self._handshaking = False
        self.sink: Callable[[bytes], None] | None = None
        self.on_pause: Callable[[bool], None] | None = None  # our writes are backed up
        # Passed in: CPython 3.11's get_running_loop() costs a getpid() syscall per call.
        self._loop = loop
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.authenticated = False  # set by whoever completes the login on this leg
        self.bytes_in = 0
        self.bytes_out = 0
        self.read_limit = DEFAULT_READ_LIMIT
        self._reading_paused = False  # by the buffer bound, not by the relay's flow control
        self._held: bytearray | None = None  # writes gathered by hold_writes()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        sink = self.sink
        if sink is not None and self._tls is None:  # the relay's hot path
            sink(data)
            return
        if self._tls is not None and not self._handshaking:  # (start_tls feeds a handshake)
            data = self._tls_feed(data)
            if not data:
                return
        if self.sink is not None:
            self.sink(data)
        else:
            self._buf += data
            self._wake()
            if self._waiter is None and len(self._buf) > self.read_limit:
                self._hold_reading()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_pause is not None:
            self.on_pause(False)

    def pause_writing(self) -> None:
        if self.on_pause is not None:
            self.on_pause(True)

    def resume_writing(self) -> None:
        if self.on_pause is not None:
            self.on_pause(False)

    # --- reading ----------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _hold_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _release_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    async def _wait(self) -> None:
        if self._eof:
            raise ConnectionClosed("peer closed the connection")
        if self._held:  # the peer may be waiting for them before it says more
            self._write_held()
        self._release_reading()  # someone wants more bytes
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def read_packet(self, max_payload: int) -> Packet:
        """The next whole packet (16 MiB parts joined). Raises ProtocolError, ConnectionClosed."""
        return await self.read_with(lambda buffer: take_packet(buffer, max_payload))

    async def read_with(self, take: Callable[[bytearray], T | None]) -> T:
        """Wait until `take` finds what it wants at the front of the buffer (it removes it)."""
        while True:
            found = take(self._buf)
            if found is not None:
                return found
            if self._eof:
                raise ConnectionClosed("peer closed the connection")
            await self._wait()

    def has_buffered(self) -> bool:
        return bool(self._buf)

    def take_buffered(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        self._release_reading()
        return data

    def unread(self, data: bytes) -> None:
        """Put bytes back in front of the buffer (leaving relay mode mid-chunk)."""
        self._buf[:0] = data

    # --- writing ----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._held is not None:
            self._held += data
            return
        self._write(data)

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._tls is not None:
            data = self._encrypt(data)
        self.bytes_out += len(data)
        transport.write(data)

    def hold_writes(self) -> None:
        """Gather what is written into one write (one system call, one TLS record) until
        release_writes(), the next wait for the peer's bytes, or close(): for the packets a
        handshake sends one after another (a fast-auth result and the OK)."""
        if self._held is None:
            self._held = bytearray()

    def release_writes(self) -> None:
        """Write what was gathered; writes go out one by one again."""
        self._write_held()
        self._held = None

    def _write_held(self) -> None:
        held = self._held
        if held:
            self._held = bytearray()
            self._write(bytes(held))

    def send_packet(self, payload: bytes, seq: int) -> int:
        """Frame and write one payload; return the next sequence id."""
        self.write(frame(payload, seq))
        return (seq + len(payload) // 0xFFFFFF + 1) & 0xFF

    def close(self) -> None:
        """Close after what is queued is written; a TLS leg first says close_notify, as
        mysqld does, so that the peer reads a clean end of stream, not a truncated one."""
        if self.transport is not None and not self.transport.is_closing():
            if not self._handshaking:  # (nothing is held during a handshake)
                self.release_writes()
            if self._tls is not None and not self._handshaking:
                with contextlib.suppress(ssl.SSLError):  # SSLWantReadError: no answer awaited
                    self._tls.unwrap()
                self._flush_tls()
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self, paused: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if paused:
            self.transport.pause_reading()
        elif not self._reading_paused:
            self.transport.resume_reading()

    # --- TLS --------------------------------------------------------------------------------

    @property
    def tls_active(self) -> bool:
        return self._tls is not None

    @property
    def tls_version(self) -> str | None:
        return self._tls.version() if self._tls is not None else None

    @property
    def tls_resumed(self) -> bool:
        """The handshake resumed an earlier session (no certificate was exchanged)."""
        return self._tls is not None and self._tls.session_reused

    def tls_session(self) -> ssl.SSLSession | None:
        """This connection's session, for a later one to resume (CPython 3.11 leaks a copy
        of it at every call: ask rarely)."""
        return self._tls.session if self._tls is not None else None

    async def start_tls(
        self, context: ssl.SSLContext, server_side: bool, server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> None:  # fmt: skip
        """Run the TLS handshake (a client may offer to resume `session`). Bytes already
        buffered are TLS records or garbage: both go to the TLS engine, which refuses
        garbage (ssl.SSLError)."""
        self._write_held()  # in the clear, before the handshake (a greeting not yet sent)
        self._tls_in, self._tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._tls_in, self._tls_out, server_side=server_side,
            server_hostname=server_hostname, session=session,
        )  # fmt: skip
        self._handshaking = True
        try:
            while not self._handshake_step():
                self._flush_tls()
                await self._wait()
        finally:
            self._handshaking = False
        self._flush_tls()
        self._buf += self._tls_feed(self.take_buffered())  # what came after the handshake

    def _handshake_step(self) -> bool:
        """Give the TLS engine what has arrived, a small piece at a time, until the
        handshake is done (True) or it needs more from the peer (False)."""
        assert self._tls is not None
        while True:
            self._tls_in.write(self._buf[:HANDSHAKE_PIECE])
            del self._buf[:HANDSHAKE_PIECE]
            try:
                self._tls.do_handshake()
                return True
            except ssl.SSLWantReadError:
                if not self._buf:
                    return False

    def _tls_feed(self, data: bytes) -> bytes:
        """Decrypt what arrived: into the TLS engine in pieces of at most TLS_PIECE."""
        if len(data) <= TLS_PIECE:
            self._tls_in.write(data)
            return self._tls_read()
        view, parts = memoryview(data), []
        for start in range(0, len(data), TLS_PIECE):
            self._tls_in.write(view[start : start + TLS_PIECE])
            parts.append(self._tls_read())
            if self._eof:
                break
        return b"".join(parts)

    def _encrypt(self, data: bytes) -> bytes:
        """TLS records for `data`, made and taken out of the memory BIO a piece at a time."""
        assert self._tls is not None
        if len(data) <= TLS_PIECE:  # a packet or a few: one record
            self._tls.write(data)
            return self._tls_out.read()
        view, parts = memoryview(data), []
        while view:
            written = self._tls.write(view[:TLS_PIECE])
            view = view[written:]
            parts.append(self._tls_out.read())
        return b"".join(parts)

    def _flush_tls(self) -> None:
        if not self._tls_out.pending:
            return
        data = self._tls_out.read()
        if self.transport is not None and not self.transport.is_closing():
            self.bytes_out += len(data)
            self.transport.write(data)

    def _tls_read(self) -> bytes:
        assert self._tls is not None
        chunks = []
        while True:
            try:
                chunk = self._tls.read(262144)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLError):
                self._eof = True
                self.abort()
                break
            if not chunk:
                self._eof = True
                break
            chunks.append(chunk)
            if not self._tls_in.pending and not self._tls.pending():
                break  # nothing more to decrypt: spare the read that would say so
        if self.sink is None and not self._eof:  # a login, not the relay's hot path
            self._drop_tls_write_buffer()
        self._flush_tls()
        return b"".join(chunks)

    def _drop_tls_write_buffer(self) -> None:
        """A read that met a post-handshake message (TLS 1.3's NewSessionTicket, which
        MariaDB sends with its first answer) leaves OpenSSL 3.0 holding a 16 KiB record
        buffer that SSL_MODE_RELEASE_BUFFERS frees only at the next write: an idle session
        after its login would keep it. A zero-length write sends nothing (SSL_write_ex)
        and frees it."""
        assert self._tls is not None
        try:  # noqa: SIM105 - contextlib.suppress is an object per call, on every login read
            self._tls.write(b"")
        except ssl.SSLError:  # e.g. a renegotiation under way
            pass


def peer_uid(conn: Conn) -> int | None:
    """SO_PEERCRED: the uid of the process at the other end of a Unix socket (None for any
    other leg, or when the kernel does not say)."""
    sock = conn.transport.get_extra_info("socket") if conn.transport else None
    if sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    uid: int = struct.unpack("3i", raw)[1]
    return uid
