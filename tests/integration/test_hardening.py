"""Issue 10's attacks, each performed as a hostile client would, through a real bridge to a
real MariaDB (and a real slapd for the LDAP ones), asserting what the bridge does now:
bounded memory, error codes, throttle counts, audit lines."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bridge.protocol.packets import (
    ChangeUser,
    build_change_user,
    parse_auth_switch_request,
    parse_err,
)
from bridge.scramble import native_token
from sandbox.bridgeproc import Account, BridgeProcess, run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.ldap import Slapd
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, wait_until
from tests.integration.harness import (
    ACCOUNTS,
    Bridge,
    MakeBridge,
    closing,
    connect,
    error_of,
    mariadb_cli,
    notify_socket,
    scalar,
    start_bridge,
)
from tests.integration.rawclient import CLIENT_CAPS, Raw
from tests.ldapfix import ldap_settings

pytestmark = pytest.mark.integration
MiB = 1 << 20


def rss(bridge: Bridge) -> int:
    """The bridge process's resident set, in bytes."""
    for line in Path(f"/proc/{bridge.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def open_fds(bridge: Bridge) -> int:
    return len(os.listdir(f"/proc/{bridge.proc.pid}/fd"))


def audit(bridge: Bridge) -> list[dict[str, Any]]:
    path = bridge.directory / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def raw_login_attempt(bridge: Bridge, user: str, source: str = "127.0.0.1") -> bytes:
    """A handshake response for `user` with an empty native answer: the first reply."""
    raw = Raw.connect(bridge.port, source=source)
    try:
        raw.greeting()
        raw.hello(user, b"", "mysql_native_password")
        return raw.read()[1]
    finally:
        raw.close()


def attempt(bridge: Bridge, user: str, password: str, source: str = "127.0.0.1") -> int | None:
    try:
        connect("pymysql", bridge, user, password, "tls", bind_address=source).close()
    except Exception as exc:
        return error_of(exc)[0]
    return None


# --- 1. long user names ------------------------------------------------------------------


def test_long_user_names_are_refused_bounded_and_pin_no_memory(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(protection={"failed_login_threshold": 1000, "failed_login_attempts": 1000},
                         audit_log="audit.jsonl")  # fmt: skip
    answer = raw_login_attempt(bridge, "n" * 129)  # MariaDB's longest is 128
    err = parse_err(answer)
    assert (err.errno, err.sqlstate) == (1045, "28000")
    assert err.message == f"Access denied for user '{'n' * 80}...'@'localhost' (using password: NO)"
    for _ in range(20):  # warm up allocator pools before measuring
        raw_login_attempt(bridge, os.urandom(8).hex() * 3000)
    before, log_before = rss(bridge), len(bridge.log)
    for i in range(200):  # 200 distinct 48 kB names: 9.6 MB of names
        answer = raw_login_attempt(bridge, f"{i:05d}" + "x" * 48_000)
        assert len(answer) < 200 and parse_err(answer).errno == 1045
    time.sleep(0.5)
    grown = rss(bridge) - before
    assert grown < 4 * MiB, f"RSS grew by {grown / MiB:.1f} MiB"
    assert len(bridge.log) - log_before < 200 * 400  # bounded log lines, not 48 kB each
    assert all(len(record["user"]) <= 128 + 3 for record in audit(bridge))  # and '...'
    assert sum(record["result"] == "denied" for record in audit(bridge)) == 221
    # A 1 MB name does not fit the 64 KiB pre-authentication limit: Bad handshake at once.
    raw = Raw.connect(bridge.port)
    raw.greeting()
    raw.hello("m" * MiB, b"", "mysql_native_password")
    err = parse_err(raw.read()[1])
    assert (err.errno, err.message) == (1043, "Bad handshake")
    raw.close()


# --- 2. back-pressure and the COM_CHANGE_USER deadline -------------------------------------


def test_huge_change_user_is_refused_from_its_header_and_others_are_not_stalled(
    make_bridge: MakeBridge,
) -> None:
    bridge = make_bridge()
    other = connect("pymysql", bridge, "app", "app-pw", "tcp")
    victim = connect("pymysql", bridge, "nat", "nat-pw", "tcp")
    before = rss(bridge)
    sock: socket.socket = victim._sock
    header = b"\xff\xff\xff\x00"  # a first part of 16 MiB - 1 bytes: 512 MiB would follow
    stop = threading.Event()
    sent = [0]

    def flood() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(header + b"\x11")
            chunk = bytes(MiB)
            while not stop.is_set() and sent[0] < 512 * MiB:
                sock.sendall(chunk)
                sent[0] += len(chunk)

    thread = threading.Thread(target=flood)
    thread.start()
    started = time.monotonic()
    assert scalar(other, "SELECT 1") == 1
    assert time.monotonic() - started < 2.0  # nobody else stalls (it was 4.6 s)
    thread.join(timeout=10)
    stop.set()
    assert sent[0] < 64 * MiB  # the bridge closed the socket instead of reading it all
    assert rss(bridge) - before < 8 * MiB
    bridge.wait_log("refused: packet of 16777215+ bytes exceeds the limit of 65536")
    assert scalar(other, "SELECT CURRENT_USER()") == "app@%"
    other.close()


def test_an_oversized_change_user_is_answered_1153_before_the_close(
    make_bridge: MakeBridge,
) -> None:
    """As mysqld answers a packet over max_allowed_packet: ERR 1153 (08S01), then it closes;
    the client sees why instead of a reset connection."""
    bridge = make_bridge()
    victim = connect("pymysql", bridge, "nat", "nat-pw", "tcp")
    sock: socket.socket = victim._sock
    sock.sendall(b"\x70\x11\x01\x00\x11")  # COM_CHANGE_USER of 70,000 bytes: over 64 KiB
    sock.settimeout(5)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(4096):
            data += chunk
    assert data[3] == 1  # the answer to a command that began at sequence id 0
    err = parse_err(data[4 : 4 + int.from_bytes(data[:3], "little")])
    assert (err.errno, err.sqlstate) == (1153, "08S01")
    assert err.message == "Got a packet bigger than 'max_allowed_packet' bytes"
    bridge.wait_log("refused: packet of 70000+ bytes exceeds the limit of 65536")


def test_a_packet_out_of_sequence_after_login_is_answered_1156_as_mariadb_answers_it(
    bridge: Bridge, mariadb: MariaDB
) -> None:
    """A COM_CHANGE_USER whose answer to the AuthSwitchRequest (sequence id 1) comes with
    sequence id 5, not 2: ERR 1156 08S01 with sequence id 2, then the close, as MariaDB
    answers the same bytes (it sends a second copy with sequence id 0; not 1043 Bad
    handshake). A long query's own continuation out of order goes to the upstream, which
    answers it."""

    def answer(port: int, password: bytes, local_password: bytes) -> tuple[int, bytes]:
        raw = Raw.connect(port)
        raw.hello("nat", native_token(password, raw.greeting().scramble), "mysql_native_password")
        assert raw.read()[1][:1] == b"\0"
        request = ChangeUser("local", b"", "", 45, "mysql_native_password")
        raw.send(build_change_user(request, CLIENT_CAPS), 0)
        seq, payload = raw.read()
        assert seq == 1
        switch = parse_auth_switch_request(payload)
        raw.send(native_token(local_password, switch.data[:20]), 5)
        reply = raw.read()
        assert raw.closed()
        raw.close()
        return reply

    direct = answer(mariadb.port, b"up-nat", b"up-local")
    assert direct == (2, b"\xff\x84\x04#08S01Got packets out of order")  # MariaDB 10.11
    assert answer(bridge.port, b"nat-pw", b"local-pw") == direct
    bridge.wait_log("refused: packet out of order: got 5, expected 2")


def test_reading_stops_while_a_throttled_handshake_waits(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(
        protection={"failed_login_threshold": 1, "min_delay": 3, "count_by": "address"}
    )
    assert attempt(bridge, "nat", "bad") == 1045
    before = rss(bridge)
    raw = Raw.connect(bridge.port, timeout=2.5)
    raw.greeting()
    raw.hello("nat", b"\x01" * 20, "mysql_native_password")  # now delayed by 3 s
    sent = 0
    with contextlib.suppress(TimeoutError, OSError):
        chunk = bytes(MiB)
        while sent < 256 * MiB:
            raw.sock.sendall(chunk)
            sent += len(chunk)
    assert sent < 32 * MiB  # the kernel buffers and one read limit, not 256 MiB
    assert rss(bridge) - before < 8 * MiB
    raw.close()


def test_change_user_has_a_deadline(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(server={"change_user_timeout": 1.5}, audit_log="audit.jsonl")
    victim = connect("pymysql", bridge, "nat", "nat-pw", "tcp")
    sock: socket.socket = victim._sock
    sock.settimeout(8)
    started = time.monotonic()
    sock.sendall(b"\x40\x00\x00\x00\x11")  # COM_CHANGE_USER of 64 bytes: 1 byte now
    closed_after = None
    with contextlib.suppress(OSError):
        for _ in range(16):
            sock.sendall(b"a")  # a trickle: one byte every 0.5 s
            time.sleep(0.5)
    data = b""
    with contextlib.suppress(OSError):
        data = sock.recv(100)
    closed_after = time.monotonic() - started
    assert data == b""  # closed without an answer
    assert closed_after < 4.0
    bridge.wait_log("COM_CHANGE_USER not finished in time")
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as fresh:
        assert scalar(fresh, "SELECT 1") == 1


# --- 3 and 5. LDAP: passwords a bind cannot carry; case variants of a locked name ------------


def ldap_bridge(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, slapd: Slapd, **protection: Any
) -> Bridge:
    upstream = {"reader": "up-reader"}
    mariadb.sql("CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'up-reader'")
    mariadb.sql("GRANT SELECT ON *.* TO 'reader'@'%'")
    accounts = [Account("", "", "authentication_ldap_simple", auth_string="#readers=reader")]
    return start_bridge(tmp_path, mariadb, certs, accounts, upstream_only=upstream,
                        proxy_grants=[{"proxy": "''@'%'", "proxied": ["'reader'@'%'"]}],
                        backends={"ldap": ldap_settings(tmp_path, certs, slapd.url)},
                        audit_log="audit.jsonl", protection=protection)  # fmt: skip


def test_ldap_passwords_with_control_characters_are_wrong_passwords(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, slapd: Slapd
) -> None:
    bridge = ldap_bridge(tmp_path, mariadb, certs, slapd, failed_login_attempts=3,
                         lock_by="account", lock_time=30)  # fmt: skip
    try:
        fds = open_fds(bridge)
        unknown = [error_of(pytest.raises(Exception, connect, "pymysql", bridge, "nosuch", pw, "tls").value)
                   for pw in ("a\x00b", "\x01", "tab\there")]  # fmt: skip
        assert {e[0] for e in unknown} == {1045}
        known = [error_of(pytest.raises(Exception, connect, "pymysql", bridge, "bob", pw, "tls").value)
                 for pw in ("a\x00b", "\x01", "tab\there")]  # fmt: skip
        assert (
            known == [(1045, "Access denied for user 'bob'@'localhost' (using password: YES)")] * 3
        )
        # Counted: bob is locked now, the right password included.
        assert (
            error_of(
                pytest.raises(Exception, connect, "pymysql", bridge, "bob", "bob-ldap", "tls").value
            )[0]
            == 3955
        )
        for _ in range(2):  # more binds that a simple bind cannot carry: no socket is left
            for name in ("alice", "carol", "dave", "admin"):
                assert attempt(bridge, name, "\x01\x02") == 1045
        for i in range(20):
            assert attempt(bridge, f"nosuch{i}", "\x01\x02") == 1045
        time.sleep(0.5)
        assert open_fds(bridge) - fds < 8
        records = [r for r in audit(bridge) if r["user"] == "bob"]
        assert [r["result"] for r in records] == ["denied"] * 4
        assert "Traceback" not in bridge.log and "LDAPSASLPrepError" not in bridge.log
    finally:
        bridge.stop()


def test_ldap_lockout_covers_every_case_variant(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, slapd: Slapd
) -> None:
    bridge = ldap_bridge(tmp_path, mariadb, certs, slapd, failed_login_attempts=3,
                         lock_by="account", lock_time=2)  # fmt: skip
    try:
        for name in ("bob", "BOB", "Bob"):  # three guesses under three spellings
            assert attempt(bridge, name, "wrong") == 1045
        for name in ("bob", "BOB", "Bob", "bOb"):  # all locked, the right password included
            assert attempt(bridge, name, "bob-ldap") == 3955
        time.sleep(2.2)
        with closing(connect("pymysql", bridge, "BOB", "bob-ldap", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"
        assert [r["result"] for r in audit(bridge)] == ["denied"] * 7 + ["ok"]
    finally:
        bridge.stop()


# --- 4. the decoy for an unknown user ---------------------------------------------------------


def test_decoy_plugin_depends_on_the_name_only(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(server={"skip_name_resolve": True})  # each address is a host of its own
    sources = [f"127.0.0.{i}" for i in range(1, 7)]
    seen: dict[str, set[bytes]] = {}
    for n in range(30):
        name = f"ghost{n}"
        for source in sources:
            first = raw_login_attempt(bridge, name, source)
            marker = first[:1] if first[:1] != b"\xfe" else first.split(b"\0")[0]
            seen.setdefault(name, set()).add(marker)
    assert all(len(markers) == 1 for markers in seen.values()), seen
    assert len({next(iter(m)) for m in seen.values()}) > 1  # decoys still vary by name


# --- 6. a success clears only that user's count ----------------------------------------------


def test_a_login_to_another_account_does_not_reset_the_address_count(
    make_bridge: MakeBridge,
) -> None:
    bridge = make_bridge(protection={"failed_login_threshold": 2, "min_delay": 0.3, "max_delay": 5,
                                     "count_by": "address"})  # fmt: skip
    for _ in range(2):
        assert attempt(bridge, "nat", "bad") == 1045
    started = time.monotonic()
    for _ in range(3):
        assert attempt(bridge, "nopw", "") is None  # interleaved successes on another account
        assert attempt(bridge, "nat", "bad") == 1045
    assert time.monotonic() - started >= 0.3 * (1 + 2 + 3) * 0.9  # still delayed, and growing
    assert attempt(bridge, "nat", "nat-pw") is None  # nat's own success clears nat's count
    assert bridge.log.count("delaying 'nopw' from 127.0.0.1") == 3
    assert attempt(bridge, "app", "bad") == 1045
    assert "delaying 'app'" not in bridge.log  # nothing was left to delay it


# --- 7. reload and check catch every error ---------------------------------------------------


def _logged_more(bridge: BridgeProcess, text: str, before: int) -> bool:
    return bridge.log.count(text) > before


def test_reload_of_unreadable_files_keeps_the_old_config_and_tells_systemd(
    tmp_path: Path, make_bridge: MakeBridge
) -> None:
    path = tmp_path / "notify"
    with notify_socket(path) as listener:
        bridge = make_bridge(env={"NOTIFY_SOCKET": str(path)})
        assert listener.recv(4096).startswith(b"READY=1")
        config, accounts = (
            bridge.config.read_bytes(),
            (bridge.directory / "accounts.yaml").read_bytes(),
        )
        breakages = [
            (bridge.config, config + b"\n# caf\xe9\n"),  # Latin-1, not UTF-8
            (bridge.directory / "accounts.yaml", accounts + b"\n# \xff\xfe\n"),
            (bridge.config, config + b"\nextra: " + b"[" * 10_000 + b"]" * 10_000 + b"\n"),
        ]
        for target, broken in breakages:
            target.write_bytes(broken)
            log_before = bridge.log.count("reload failed")
            bridge.signal(signal.SIGHUP)
            assert listener.recv(4096).startswith(b"RELOADING=1")
            assert listener.recv(4096).startswith(
                b"READY=1\nSTATUS=running; the last reload failed"
            )
            logged = functools.partial(_logged_more, bridge, "reload failed", log_before)
            wait_until(logged, 10, "the log line")  # the log thread may write it after READY=1
            assert bridge.log.count("reload failed") == log_before + 1
            with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
                assert scalar(conn, "SELECT 1") == 1  # the old configuration serves
            done = subprocess.run([sys.executable, "-m", "bridge", "check", "-c", str(bridge.config)],
                                  capture_output=True, text=True, timeout=60)  # fmt: skip
            assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
            assert str(target) in done.stderr
            target.write_bytes(config if target == bridge.config else accounts)
        assert "Traceback" not in bridge.log


def first_packet(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    return sock.recv(1024)[4:]


def test_ipv6_and_ipv4_sources_have_caps_of_their_own(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """The per-source cap over IPv6 (::1, counted as its /64) and IPv4 (127.0.0.1): the
    fourth idle handshake from ::1 is ERROR 1040, while IPv4 clients still get theirs and log
    in (PyMySQL, the mariadb CLI)."""
    port, port6 = free_port(), free_port()
    write_config(tmp_path, port, mariadb.port, certs, ACCOUNTS,
                 server={"max_unauthenticated_per_source": 3, "connect_timeout": 10},
                 listen={"tcp": [f"127.0.0.1:{port}", f"[::1]:{port6}"]})  # fmt: skip
    bridge = run_bridge(tmp_path, port, certs)
    idle = [socket.create_connection(("::1", port6), 5) for _ in range(3)]
    try:
        assert all(first_packet(sock)[:1] == b"\x0a" for sock in idle)  # greetings
        with socket.create_connection(("::1", port6), 5) as fourth:
            assert parse_err(first_packet(fourth)).errno == 1040
        with socket.create_connection(("127.0.0.1", bridge.port), 5) as other:
            assert first_packet(other)[:1] == b"\x0a"  # IPv4 is another source
        with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
            assert scalar(conn, "SELECT 1") == 1
        assert mariadb_cli(bridge, "nat", "nat-pw", transport="tcp").returncode == 0
    finally:
        for sock in idle:
            sock.close()
        bridge.stop()


# --- 8. idle unauthenticated sockets ----------------------------------------------------------


def test_idle_sockets_cannot_starve_logins(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(server={"max_connections": 5, "max_unauthenticated_per_source": 10,
                                 "connect_timeout": 10})  # fmt: skip
    idle = [
        socket.create_connection(("127.0.0.1", bridge.port), 5, ("127.0.0.2", 0)) for _ in range(50)
    ]
    try:
        refused = 0
        for sock in idle:
            sock.settimeout(5)
            payload = sock.recv(1024)
            if payload[4:5] == b"\xff":
                assert parse_err(payload[4:]).errno == 1040
                refused += 1
        assert refused == 40  # the per-source cap: 10 handshakes at once from 127.0.0.2
        # Logins from elsewhere are not blocked: all of max_connections are theirs.
        conns = [connect("pymysql", bridge, "nat", "nat-pw", "tls") for _ in range(5)]
        assert all(scalar(c, "SELECT 1") == 1 for c in conns)
        raw = Raw.connect(bridge.port)  # the sixth session: 1040, before the greeting
        assert parse_err(raw.read()[1]).errno == 1040
        raw.close()
        for c in conns:
            c.close()
    finally:
        for sock in idle:
            sock.close()
