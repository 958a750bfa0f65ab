"""Conn.hold_writes: packets written one after another leave in one write, and nothing
held is kept from a peer the bridge waits for."""

import asyncio

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
