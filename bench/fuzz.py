"""Fuzzing a real bridge over the network: mutated packets before authentication (the
handshake response and the auth answers that follow it) and, after a real login,
mutated COM_CHANGE_USER packets and their auth answers. Not a test: it reports what
happened (packets sent, answers by kind, crashes, hangs, tracebacks in the bridge's log,
its RSS before and after). tests/integration/test_fuzz_bridge.py runs a short round.

A hang is a connection on which the bridge neither answers nor closes within its own
deadline (connect_timeout / change_user_timeout) plus a margin.

Usage: python bench/fuzz.py [--packets 1000000] [--seconds 1800] [--processes 2]
                            [--threads 8] [--seed 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import random
import re
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.protocol.constants import Capability as C
from bridge.protocol.framing import frame, take_packet
from bridge.protocol.packets import (
    ChangeUser,
    HandshakeResponse41,
    build_change_user,
    build_handshake_response41,
    parse_handshake_v10,
)
from bridge.scramble import native_token

USER, PASSWORD = "nat", "nat-pw"  # a native account the change-user rounds log in as
UPSTREAM = "up-nat-pw"
DEADLINE = 2.0  # the bridge's connect_timeout and change_user_timeout in a fuzz run
PLUGINS = ["mysql_native_password", "caching_sha2_password", "sha256_password",
           "mysql_clear_password", "dialog", "auth_gssapi_client", "", "x" * 300]  # fmt: skip
BASE_CAPS = (C.CLIENT_LONG_PASSWORD | C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION
             | C.CLIENT_PLUGIN_AUTH | C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
             | C.CLIENT_TRANSACTIONS | C.CLIENT_MULTI_RESULTS)  # fmt: skip
OPTIONAL_CAPS = [C.CLIENT_CONNECT_WITH_DB, C.CLIENT_CONNECT_ATTRS, C.CLIENT_SSL,
                 C.CLIENT_LONG_PASSWORD, C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
                 C.CLIENT_SECURE_CONNECTION, C.CLIENT_PLUGIN_AUTH,
                 C.CLIENT_DEPRECATE_EOF]  # fmt: skip


# --- what to send --------------------------------------------------------------------------


def fuzz_name(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return "".join(chr(rng.randrange(1, 0x30000)) for _ in range(rng.randrange(1, 40)))
    if kind == 1:
        return "u" * rng.choice([33, 81, 255, 4096, 60_000])
    if kind == 2:
        return rng.choice(["nat", "NAT", "app", "nopw", "root", "", "%", "'", "\\", "a\tb"])
    if kind == 3:
        return "".join(chr(rng.randrange(1, 32)) for _ in range(rng.randrange(1, 10)))
    return f"fz{rng.randrange(10**6)}"


def fuzz_bytes(rng: random.Random, most: int = 64) -> bytes:
    return rng.randbytes(rng.choice([0, 1, 8, 20, 32, rng.randrange(most + 1), 256, 300]))


def fuzz_attrs(rng: random.Random) -> tuple[tuple[str, str], ...]:
    count = rng.choice([0, 1, 3, 50, 2000])
    return tuple((f"k{i}", "v" * rng.randrange(0, 64)) for i in range(count))


def caps(rng: random.Random) -> int:
    value = BASE_CAPS
    for flag in OPTIONAL_CAPS:
        if rng.random() < 0.3:
            value ^= flag
    if rng.random() < 0.1:
        value |= rng.getrandbits(40)
    return int(value)


def handshake_response(rng: random.Random) -> bytes:
    hello = HandshakeResponse41(
        caps(rng), rng.choice([0, 1 << 24, 0xFFFFFFFF]), rng.randrange(256), fuzz_name(rng),
        fuzz_bytes(rng), rng.choice([None, "shop", "x" * 300, "\x00db"]), rng.choice(PLUGINS),
        fuzz_attrs(rng),
    )  # fmt: skip
    with contextlib.suppress(ValueError, UnicodeError):
        return build_handshake_response41(hello)
    return rng.randbytes(rng.randrange(200))


def change_user(rng: random.Random) -> bytes:
    database = rng.choice(["", "shop", "x" * 70])
    request = ChangeUser(fuzz_name(rng), fuzz_bytes(rng, 255)[:255], database,
                         rng.randrange(256), rng.choice(PLUGINS), fuzz_attrs(rng))  # fmt: skip
    with contextlib.suppress(ValueError, UnicodeError):
        return build_change_user(request, caps(rng))
    return b"\x11" + rng.randbytes(rng.randrange(100))


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Bit flips, cuts, insertions, splices and extreme length-encoded integers."""
    out = bytearray(data)
    for _ in range(rng.choice([0, 1, 1, 2, 4, 16])):
        op = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            del out[at : at + rng.randrange(1, 16)]
        elif op == 2:
            out[at:at] = rng.randbytes(rng.randrange(1, 16))
        elif op == 3:
            out[at:at] = rng.choice([b"\xfb", b"\xfc\xff\xff", b"\xfd\xff\xff\xff",
                                     b"\xfe" + b"\xff" * 8, b"\x00", b"\xff"])  # fmt: skip
        elif op == 4:
            del out[at:]
        elif op == 5 and out:
            start = rng.randrange(len(out))
            out[at:at] = out[start : start + rng.randrange(1, 64)]
    return bytes(out)


# --- one client ----------------------------------------------------------------------------


@dataclass
class Stats:
    packets: int = 0
    preauth_packets: int = 0
    change_user_packets: int = 0
    connections: int = 0
    logins: int = 0
    hangs: int = 0
    hang_samples: list[str] = field(default_factory=list)  # kind and first bytes last sent
    refused_connect: int = 0
    answers: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Stats) -> None:
        for name in ("packets", "preauth_packets", "change_user_packets", "connections",
                     "logins", "hangs", "refused_connect"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.answers.update(other.answers)
        self.hang_samples += other.hang_samples[: 10 - len(self.hang_samples)]

    def hang(self, kind: str, client: Client) -> None:
        self.hangs += 1
        if len(self.hang_samples) < 10:
            self.hang_samples.append(f"{kind}: {client.last_sent.hex()}")


class Closed(Exception):
    pass


class Hang(Exception):
    pass


class Client:
    def __init__(self, port: int, rng: random.Random, stats: Stats) -> None:
        self.rng, self.stats = rng, stats
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        self.sock.settimeout(DEADLINE + 3)
        self.buf = bytearray()
        self.relayed = False
        self.last_sent = b""
        stats.connections += 1

    def read(self) -> tuple[int, bytes]:
        while True:
            try:
                packet = take_packet(self.buf, 1 << 24)
            except ValueError as exc:
                raise Closed from exc
            if packet is not None:
                return packet.seq, packet.payload
            try:
                data = self.sock.recv(65536)
            except TimeoutError as exc:
                raise Hang from exc
            except OSError as exc:
                raise Closed from exc
            if not data:
                raise Closed
            self.buf += data

    def send(self, payload: bytes, seq: int, kind: str) -> None:
        if self.rng.random() < 0.02:
            seq = self.rng.randrange(256)  # out of order
        data = frame(payload, seq)
        if self.rng.random() < 0.01:
            data = mutate(self.rng, data)  # broken framing too
        # After login, what is not a COM_CHANGE_USER at sequence id 0 goes to the upstream
        # as it is: if MariaDB then waits for the rest, that is not the bridge hanging. Once
        # such a packet went by, the stream's framing is the client's own mess for good.
        self.last_sent = data[:48]
        self.relayed |= kind == "change_user_packets" and (
            data[3:5] != b"\x00\x11" or len(data) - 4 != payload_len(data)
        )
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise Closed from exc
        self.stats.packets += 1
        setattr(self.stats, kind, getattr(self.stats, kind) + 1)

    def answer(self, seq: int, payload: bytes) -> int | None:
        """Note the bridge's answer; the sequence id to reply with if it wants more."""
        first = payload[:1]
        name = {b"\x00": "ok", b"\xff": "err", b"\x01": "more_data", b"\xfe": "switch"}
        kind = name.get(first, "other")
        if kind == "err":
            kind = f"err_{int.from_bytes(payload[1:3], 'little')}"
        self.stats.answers[kind] += 1
        return (seq + 1) & 0xFF if first in (b"\x01", b"\xfe") else None

    def exchange(self, first: bytes, seq: int, kind: str) -> bool:
        """Send a packet and keep answering auth requests with fuzz until a verdict.
        True if the connection is still usable."""
        self.send(first, seq, kind)
        for _ in range(4):
            reply_seq, payload = self.read()
            more = self.answer(reply_seq, payload)
            if more is None:
                return payload[:1] == b"\xff" or payload[:1] == b"\x00"
            self.send(mutate(self.rng, fuzz_bytes(self.rng, 300)), more, kind)
        return False

    def close(self) -> None:
        self.sock.close()


def preauth_round(port: int, rng: random.Random, stats: Stats) -> None:
    client = Client(port, rng, stats)
    try:
        seq, greeting = client.read()
        if greeting[:1] == b"\xff":
            client.answer(seq, greeting)
            stats.refused_connect += 1
            return
        hello = handshake_response(rng)
        client.exchange(mutate(rng, hello) if rng.random() < 0.7 else hello, 1, "preauth_packets")
        with contextlib.suppress(Closed, Hang):
            client.read()  # the close that follows a verdict
    except Closed:
        stats.answers["closed"] += 1
    except Hang:
        stats.hang("preauth", client)
    finally:
        client.close()


def login(port: int, rng: random.Random, stats: Stats) -> Client | None:
    client = Client(port, rng, stats)
    try:
        _, payload = client.read()
        greeting = parse_handshake_v10(payload)
        token = native_token(PASSWORD.encode(), greeting.scramble)
        hello = HandshakeResponse41(BASE_CAPS, 1 << 24, 45, USER, token, None,
                                    "mysql_native_password")  # fmt: skip
        client.sock.sendall(frame(build_handshake_response41(hello), 1))
        if client.read()[1][:1] == b"\x00":
            stats.logins += 1
            return client
    except (Closed, Hang, ValueError):
        pass
    client.close()
    return None


def change_user_round(port: int, rng: random.Random, stats: Stats, budget: int) -> None:
    client = login(port, rng, stats)
    if client is None:
        stats.answers["login_failed"] += 1
        return
    try:
        for _ in range(budget):
            request = change_user(rng)
            if rng.random() < 0.3:  # most stay parseable: a session answers many of them
                request = b"\x11" + mutate(rng, request[1:])
            if not client.exchange(request, 0, "change_user_packets"):
                break
    except Closed:
        stats.answers["closed"] += 1
    except Hang:
        if client.relayed:
            stats.answers["upstream_waits"] += 1
        else:
            stats.hang("change_user", client)
    finally:
        client.close()


def payload_len(data: bytes) -> int:
    return int.from_bytes(data[:3], "little") if len(data) >= 4 else -1


def worker(port: int, seed: int, packets: int, until: float, threads: int) -> Stats:
    """Fuzz with `threads` threads until `packets` are sent or the clock reaches `until`."""
    total = Stats()
    lock = threading.Lock()

    def loop(n: int) -> None:
        rng, stats = random.Random(seed * 1000 + n), Stats()
        while stats.packets < packets // threads and time.time() < until:
            if rng.random() < 0.5:
                preauth_round(port, rng, stats)
            else:
                change_user_round(port, rng, stats, budget=50)
        with lock:
            total.merge(stats)

    pool = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return total


def _worker_entry(args: tuple[int, int, int, float, int]) -> Stats:
    return worker(*args)


def fuzz(port: int, packets: int, seconds: float, seed: int = 1, processes: int = 2,
         threads: int = 8) -> Stats:  # fmt: skip
    until = time.time() + seconds
    jobs = [(port, seed + p, packets // processes, until, threads) for p in range(processes)]
    total = Stats()
    if processes == 1:
        total.merge(worker(*jobs[0]))
        return total
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for stats in pool.map(_worker_entry, jobs):
            total.merge(stats)
    return total


# --- the bridge under test -----------------------------------------------------------------


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def log_findings(log: str) -> dict[str, int]:
    return {
        "tracebacks": log.count("Traceback"),
        "internal_errors": log.count("internal error"),
        "error_lines": len(re.findall(r" ERROR ", log)),
    }


FUZZ_SERVER = {"connect_timeout": DEADLINE, "change_user_timeout": DEADLINE,
               "max_change_user_failures": 1_000_000, "max_unauthenticated_per_source": 4096,
               "max_unauthenticated": 4096}  # fmt: skip


def report(stats: Stats, took: float, rss: dict[str, int], findings: dict[str, int],
           alive: bool, healthy: bool) -> dict[str, Any]:  # fmt: skip
    return {
        "packets": stats.packets, "preauth_packets": stats.preauth_packets,
        "change_user_packets": stats.change_user_packets, "connections": stats.connections,
        "logins": stats.logins, "seconds": round(took, 1),
        "packets_per_second": round(stats.packets / took) if took else 0,
        "hangs": stats.hangs, "hang_samples": stats.hang_samples,
        "bridge_alive": alive, "login_after_fuzz": healthy,
        "rss_mib": {k: round(v / 2**20, 1) for k, v in rss.items()},
        **findings, "answers": dict(stats.answers.most_common()),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    if __package__ in (None, ""):  # run as `python bench/fuzz.py`, not imported as bench.fuzz
        import _root  # noqa: F401  (puts the checkout on sys.path for sandbox/)
    from sandbox.bridgeproc import Account, run_bridge, write_config
    from sandbox.certs import make_certs
    from sandbox.mariadb import MariaDB
    from sandbox.ports import free_port

    with tempfile.TemporaryDirectory(prefix="bridge-fuzz-") as tmp:
        base = Path(tmp)
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb", certs)
        try:
            db.sql(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{UPSTREAM}'")
            accounts = [
                Account(USER, PASSWORD, "mysql_native_password", upstream_password=UPSTREAM),
                Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app"),
                Account("sha", "sha-pw", "sha256_password", upstream_password="up-sha"),
            ]
            port = free_port()
            write_config(base / "bridge", port, db.port, certs, accounts, server=FUZZ_SERVER)
            bridge = run_bridge(base / "bridge", port, certs)
            try:
                result = run_against(port, bridge.proc.pid, bridge.directory / "bridge.log", args)
            finally:
                bridge.stop()
        finally:
            db.stop()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    bad = result["hangs"] or result["tracebacks"] or not result["bridge_alive"]
    return 1 if bad or not result["login_after_fuzz"] else 0


def run_against(port: int, pid: int, log_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    rss = {"start": rss_of(pid)}
    started = time.monotonic()
    stats = fuzz(port, args.packets, args.seconds, args.seed, args.processes, args.threads)
    took = time.monotonic() - started
    rss["end"] = rss_of(pid)
    time.sleep(DEADLINE + 1)  # every fuzz connection has ended by now
    rss["idle_after"] = rss_of(pid)
    alive = Path(f"/proc/{pid}").exists()
    healthy = login(port, random.Random(0), Stats()) is not None
    return report(stats, took, rss, log_findings(log_path.read_text(errors="replace")), alive,
                  healthy)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
