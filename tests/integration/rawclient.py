"""A deliberately low-level client: sends exactly the bytes a test wants, for hostile input
and for checking packets on the wire byte by byte."""

from __future__ import annotations

import socket
import ssl
import statistics
import time
from dataclasses import dataclass

from bridge.protocol.constants import Capability as C
from bridge.protocol.framing import frame, take_packet
from bridge.protocol.packets import (
    HandshakeResponse41,
    HandshakeV10,
    build_handshake_response41,
    parse_handshake_v10,
)

CLIENT_CAPS = (
    C.CLIENT_LONG_PASSWORD | C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION
    | C.CLIENT_PLUGIN_AUTH | C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | C.CLIENT_TRANSACTIONS
    | C.CLIENT_MULTI_RESULTS
)  # fmt: skip


@dataclass
class Raw:
    sock: socket.socket | ssl.SSLSocket
    buf: bytearray

    @classmethod
    def connect(
        cls, port: int | None = None, path: str | None = None, timeout: float = 10,
        source: str | None = None,
    ) -> Raw:  # fmt: skip
        if path is not None:
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(timeout)
            sock.connect(path)
        else:
            where = (source, 0) if source else None
            sock = socket.create_connection(("127.0.0.1", port or 0), timeout, where)
        return cls(sock, bytearray())

    def read(self) -> tuple[int, bytes]:
        """(sequence id, payload) of the next packet; ConnectionError on a closed socket."""
        while True:
            packet = take_packet(self.buf, 1 << 24)
            if packet is not None:
                return packet.seq, packet.payload
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the bridge")
            self.buf += data

    def greeting(self) -> HandshakeV10:
        return parse_handshake_v10(self.read()[1])

    def send(self, payload: bytes, seq: int) -> None:
        self.sock.sendall(frame(payload, seq))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hello(self, user: str, auth: bytes, plugin: str, seq: int = 1, caps: int = CLIENT_CAPS,
              database: str | None = None) -> None:  # fmt: skip
        response = HandshakeResponse41(caps, 1 << 24, 45, user, auth, database, plugin)
        self.send(build_handshake_response41(response), seq)

    def closed(self) -> bool:
        """True once the bridge has closed the connection (reads EOF or a reset)."""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def denial_time(socket_path: str, user: str) -> float:
    """Seconds from a clear-text login with a wrong password (over the Unix socket) to its
    ERR 1045: what a client that probes for user names measures."""
    raw = Raw.connect(path=socket_path)
    raw.greeting()
    started = time.perf_counter()
    raw.hello(user, b"wrong-password\0", "mysql_clear_password")
    payload = raw.read()[1]
    elapsed = time.perf_counter() - started
    raw.close()
    assert payload[:3] == b"\xff\x15\x04"  # 1045
    return elapsed


def unknown_to_wrong(socket_path: str, real: str, unknown: str, rounds: int) -> float:
    """The median time to deny an unknown user over that for a real one's wrong password,
    after a warm-up: near 1 when the two cannot be told apart."""
    for _ in range(3):
        denial_time(socket_path, real), denial_time(socket_path, unknown)
    # in turns, so that a neighbour's burst of work (a shared CI machine) slows both alike
    pairs = [(denial_time(socket_path, real), denial_time(socket_path, unknown))
             for _ in range(rounds)]  # fmt: skip
    wrong = statistics.median(p[0] for p in pairs)
    return statistics.median(p[1] for p in pairs) / wrong
