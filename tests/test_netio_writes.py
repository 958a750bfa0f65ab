"""Conn.hold_writes: packets written one after another leave in one write, and nothing
held is kept from a peer the bridge waits for."""

import asyncio
import contextlib
import ssl
from pathlib import Path

from bridge.netio import Conn


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def make() -> tuple[Conn, Transport]:
    conn, transport = Conn(asyncio.get_running_loop()), Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def test_held_writes_leave_together_on_release() -> None:
    async def go() -> list[bytes]:
        conn, transport = make()
        conn.hold_writes()
        conn.send_packet(b"\x01\x03", 2)
        conn.send_packet(b"\x00ok", 3)
        assert transport.writes == []
        conn.release_writes()
        conn.write(b"after")  # one by one again
        return transport.writes

    assert asyncio.run(go()) == [b"\x02\x00\x00\x02\x01\x03\x03\x00\x00\x03\x00ok", b"after"]


def test_a_read_that_must_wait_first_writes_what_is_held() -> None:
    async def go() -> tuple[list[bytes], bytes]:
        conn, transport = make()
        conn.hold_writes()
        conn.send_packet(b"greeting", 0)
        reading = asyncio.ensure_future(conn.read_packet(1024))
        await asyncio.sleep(0)
        sent = list(transport.writes)  # the greeting left before the read waited
        conn.data_received(b"\x05\x00\x00\x01hello")
        packet = await reading
        conn.send_packet(b"next", 2)  # still held: a later read or release sends it
        assert transport.writes == sent
        return sent, packet.payload

    assert asyncio.run(go()) == ([b"\x08\x00\x00\x00greeting"], b"hello")


def test_close_writes_what_is_held_first() -> None:
    async def go() -> tuple[list[bytes], bool]:
        conn, transport = make()
        conn.hold_writes()
        conn.send_packet(b"\xff err", 1)
        conn.close()
        return transport.writes, transport.closed

    assert asyncio.run(go()) == ([b"\x05\x00\x00\x01\xff err"], True)


# --- a TLS leg: what arrives in one chunk is decrypted whole, whatever the records ---------


def tls_pair(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    from sandbox.certs import make_certs

    certs = make_certs(tmp_path / "tls")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(certs.cert), str(certs.key))
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    return server, client


class Peer:
    """The other end: a plain SSLObject over memory BIOs, pumped by hand."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=False)

    def records(self, *plaintexts: bytes) -> bytes:
        for text in plaintexts:
            self.tls.write(text)  # one or more records each
        return self.outgoing.read()


def test_a_tls_leg_decrypts_every_record_of_a_chunk_and_waits_for_a_partial_one(
    tmp_path: Path,
) -> None:
    server_ctx, client_ctx = tls_pair(tmp_path)

    async def go() -> list[bytes]:
        conn, transport = make()
        peer = Peer(client_ctx)
        handshake = asyncio.ensure_future(conn.start_tls(server_ctx, server_side=True))
        while not handshake.done():
            with contextlib.suppress(ssl.SSLWantReadError):
                peer.tls.do_handshake()
            if peer.outgoing.pending:
                conn.data_received(peer.outgoing.read())
            for data in transport.writes:
                peer.incoming.write(data)
            transport.writes.clear()
            await asyncio.sleep(0)
        await handshake
        got: list[bytes] = []
        conn.sink = got.append
        big = bytes(range(256)) * 200  # 51,200 bytes: four records
        conn.data_received(peer.records(b"one", b"two", big))  # all in one chunk
        tail = peer.records(b"three")
        conn.data_received(tail[:7])  # part of a record: nothing to give yet
        conn.data_received(tail[7:])
        assert got[0] == b"onetwo" + big
        return got

    assert asyncio.run(go())[1:] == [b"three"]


def test_what_is_held_leaves_in_the_clear_before_a_tls_handshake(tmp_path: Path) -> None:
    """A client that sent its SSLRequest before the greeting arrived: the read found it in
    the buffer without waiting, so the greeting is still held when TLS starts."""
    server_ctx, client_ctx = tls_pair(tmp_path)

    async def go() -> list[bytes]:
        conn, transport = make()
        conn.hold_writes()
        conn.send_packet(b"greeting", 0)
        peer = Peer(client_ctx)
        with contextlib.suppress(ssl.SSLWantReadError):
            peer.tls.do_handshake()
        conn.data_received(peer.outgoing.read())  # the ClientHello
        handshake = asyncio.ensure_future(conn.start_tls(server_ctx, server_side=True))
        await asyncio.sleep(0)
        assert not handshake.done()
        handshake.cancel()
        return transport.writes

    writes = asyncio.run(go())
    assert writes[0] == b"\x08\x00\x00\x00greeting"
    assert writes[1][:1] == b"\x16"  # then the ServerHello: a TLS handshake record
