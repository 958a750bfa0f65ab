"""Attacks on the relay's command boundaries: a command the bridge handles itself must never
reach the upstream because the bridge misread where a command starts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pymysql
import pytest

from bridge.protocol.constants import Capability as C
from bridge.protocol.framing import frame
from bridge.protocol.packets import ChangeUser, build_change_user
from bridge.scramble import native_token
from sandbox.mariadb import MariaDB
from sandbox.ports import wait_until
from tests.integration.harness import (
    Bridge,
    closing,
    connect,
    elapsed,
    error_of,
    mariadb_cli,
    scalar,
)
from tests.integration.rawclient import CLIENT_CAPS, Raw

pytestmark = pytest.mark.integration

# An upstream account the bridge never maps anyone to, whose password the attacker knows.
TARGET, TARGET_PASSWORD = "not_via_bridge", "known-upstream-pw"
# What the bridge negotiates upstream: how a COM_CHANGE_USER meant for the upstream is laid out.
UPSTREAM_CAPS = C.CLIENT_PLUGIN_AUTH | C.CLIENT_SECURE_CONNECTION | C.CLIENT_CONNECT_ATTRS


def logged_in(bridge: Bridge) -> Raw:
    """'nat' over plain TCP, with LOAD DATA LOCAL allowed."""
    raw = Raw.connect(bridge.port)
    nonce = raw.greeting().scramble
    caps = CLIENT_CAPS | C.CLIENT_LOCAL_FILES | C.CLIENT_CONNECT_WITH_DB
    raw.hello("nat", native_token(b"nat-pw", nonce), "mysql_native_password", caps=caps,
              database="shop")  # fmt: skip
    assert raw.read()[1][0] == 0x00
    return raw


def answers(raw: Raw, count: int) -> list[bytes]:
    """The next `count` OK and ERR payloads, following whatever authentication is asked for
    on the way as a client that knows TARGET's password would."""
    found: list[bytes] = []
    while len(found) < count:
        seq, payload = raw.read()
        if payload[0] in (0x00, 0xFF):
            found.append(payload)
        elif payload[0] == 0xFE and len(payload) > 1:  # AuthSwitchRequest
            plugin, _, nonce = payload[1:].partition(b"\0")
            token = native_token(TARGET_PASSWORD.encode(), nonce[:20])
            raw.send(token if plugin == b"mysql_native_password" else b"", seq + 1)
        else:
            raw.send(b"", seq + 1)  # AuthMoreData and the like: give nothing
    return found


def current_user(raw: Raw) -> bytes:
    raw.send(b"\x03SELECT CURRENT_USER()", 0)
    packets: list[bytes] = []
    while len([p for p in packets if p[0] == 0xFE and len(p) < 9]) < 2:
        payload = raw.read()[1]
        if payload[0] == 0xFF:
            return payload
        packets.append(payload)
    return packets[-2][1:]  # the one row's one value (a length byte, then the text)


def test_a_change_user_behind_a_load_data_stream_ending_on_id_255_is_the_bridges(
    bridge: Bridge, mariadb: MariaDB
) -> None:
    """A LOAD DATA LOCAL stream whose empty terminator has id 255, and right behind it (no
    wait for the OK) a COM_CHANGE_USER with id 0: the server reads it as a command, so the
    bridge must too. Taken for file data, it went to the upstream as it was and the session
    became any upstream account whose password the client knew (root without one)."""
    mariadb.sql(f"CREATE USER IF NOT EXISTS '{TARGET}'@'%' IDENTIFIED BY '{TARGET_PASSWORD}'")
    mariadb.sql("CREATE TABLE IF NOT EXISTS shop.loaded (a TEXT)")
    raw = logged_in(bridge)
    try:
        raw.send(b"\x03LOAD DATA LOCAL INFILE 'rows' INTO TABLE shop.loaded", 0)
        assert raw.read()[1][:1] == b"\xfb"  # the upstream asks for the file
        stream = b"".join(frame(b"row\n", seq) for seq in range(2, 255)) + frame(b"", 255)
        request = ChangeUser(TARGET, b"", "", 45, "mysql_native_password")
        raw.send_raw(stream + frame(build_change_user(request, UPSTREAM_CAPS), 0))
        # the LOAD DATA's OK and the change's answer: the bridge authenticated the change
        # itself and refused it (no row for TARGET), or the upstream accepted it
        ok, change = sorted(answers(raw, 2), key=lambda a: b"Records: 253" not in a)
        assert b"Records: 253" in ok
        assert change[0] == 0xFF and change[1:3] == (1045).to_bytes(2, "little"), change
        assert current_user(raw) == b"nat@%"
    finally:
        raw.close()
    sessions = mariadb.sql(
        f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{TARGET}'"
    )
    assert sessions == "0"


@pytest.mark.parametrize("client", ["mariadb-cli", "pymysql"])
def test_load_data_local_of_a_file_whose_ids_wrap_many_times(
    bridge: Bridge, mariadb: MariaDB, tmp_path: Path, client: str
) -> None:
    """Real clients' LOAD DATA LOCAL still passes whole: 6 MB in hundreds of packets, so the
    ids wrap past 255, then a query on the same session."""
    table = f"shop.loaded_{client.replace('-', '_')}"
    mariadb.sql(f"CREATE OR REPLACE TABLE {table} (n INT, pad TEXT)")
    lines = 200_000  # 6 MB: some 400 packets from PyMySQL (16 KiB), more from libmariadb
    data = tmp_path / "rows.tsv"
    data.write_text("".join(f"{n}\t{'x' * 24}\n" for n in range(lines)))
    load = f"LOAD DATA LOCAL INFILE '{data}' INTO TABLE {table}"
    check = f"SELECT COUNT(*), SUM(n) FROM {table}"
    if client == "mariadb-cli":
        done = mariadb_cli(bridge, "nat", "nat-pw", "--local-infile=1", sql=f"{load}; {check}")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [str(lines), str(sum(range(lines)))]
    else:
        with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls", local_infile=True)) as c:
            c.cursor().execute(load)
            c.commit()
            cur = c.cursor()
            cur.execute(check)
            assert cur.fetchone() == (lines, sum(range(lines)))


def test_a_long_query_full_of_kill_words_stalls_nobody(bridge: Bridge) -> None:
    """8 MiB that start like a KILL and hold millions of words: the bridge reads its first
    4 KiB, refuses it, and other sessions are served meanwhile (read whole, it held the
    event loop for 3 s and took 300 MiB)."""
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with closing(connect("pymysql", bridge, "app", "app-pw", "tcp")) as other:
            while not done.is_set():
                latencies.append(elapsed(lambda: scalar(other, "SELECT 1")))
                time.sleep(0.005)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as c:
            # the probe is answering before the big query and goes on after it (its own
            # login may take a while on a busy machine)
            wait_until(lambda: len(latencies) >= 5, 30, "the probe's first answers")
            with pytest.raises(pymysql.err.MySQLError) as caught:
                c.cursor().execute(" kill" + " x" * (4 << 20))
            assert error_of(caught.value)[0] == 1235
            assert scalar(c, "SELECT 1") == 1
            after = len(latencies)
            wait_until(lambda: len(latencies) >= after + 5, 30, "the probe's answers after")
    finally:
        done.set()
        thread.join(10)
    assert len(latencies) > 10 and max(latencies) < 1.0, max(latencies)
