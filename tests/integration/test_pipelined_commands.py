"""Commands the bridge answers itself (COM_CHANGE_USER, a KILL it refuses) pipelined behind
commands still under way upstream: the client gets every earlier answer first, then the
bridge's, in order, as from mysqld, and its session goes on, pooled or not. A raw client
sends exactly the pipelined bytes; the Node `mariadb` connector pipelines for real."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.protocol.constants import Command
from bridge.protocol.framing import frame
from bridge.protocol.packets import (
    ChangeUser,
    build_change_user,
    build_com_query,
    parse_auth_switch_request,
    parse_err,
)
from bridge.scramble import native_token
from sandbox.mariadb import MariaDB
from tests.integration.harness import Bridge, MakeBridge, closing, connect, scalar
from tests.integration.rawclient import CLIENT_CAPS, Raw

pytestmark = pytest.mark.integration
NODE = Path(__file__).parent.parent / "node"
ROWS = 3000  # more than one read's worth: the answer is still arriving when the change comes


def login(port: int, user: str = "nat", password: bytes = b"nat-pw") -> Raw:
    raw = Raw.connect(port)
    greeting = raw.greeting()
    raw.hello(user, native_token(password, greeting.scramble), "mysql_native_password")
    assert raw.read()[1][:1] == b"\0"
    return raw


def query(sql: bytes) -> bytes:
    return frame(build_com_query(sql, CLIENT_CAPS), 0)


def read_result(raw: Raw) -> list[bytes]:
    """One text result set's rows (no CLIENT_DEPRECATE_EOF: EOF after the columns and the
    rows), with the sequence ids checked; an ERR raises."""
    seq, first = raw.read()
    assert seq == 1, (seq, first)
    if first[:1] == b"\xff":
        raise AssertionError(parse_err(first))
    expected = 2
    rows: list[bytes] = []
    eofs = 0
    while eofs < 2:
        seq, payload = raw.read()
        assert seq == expected & 0xFF, (seq, expected, payload[:20])
        expected += 1
        if payload[:1] == b"\xfe" and len(payload) < 9:
            eofs += 1
        elif eofs == 1:
            rows.append(payload)
    return rows


def change_user(user: str, database: str = "") -> bytes:
    request = ChangeUser(user, b"", database, 45, "mysql_native_password")
    return frame(build_change_user(request, CLIENT_CAPS), 0)


def answer_switch(raw: Raw, password: bytes) -> bytes:
    """The change-user's AuthSwitchRequest (sequence id 1) answered; the final packet."""
    seq, payload = raw.read()
    assert seq == 1, (seq, payload[:40])
    switch = parse_auth_switch_request(payload)
    assert switch.plugin == "mysql_native_password"
    raw.send(native_token(password, switch.data[:20]), 2)
    seq, final = raw.read()
    assert seq == 3
    return final


def current_user(raw: Raw) -> bytes:
    raw.send_raw(query(b"SELECT CURRENT_USER()"))
    (row,) = read_result(raw)
    return row[1:]


@pytest.fixture(params=["pooled", "unpooled"])
def endpoint(request: pytest.FixtureRequest, make_bridge: MakeBridge) -> Iterator[Bridge]:
    yield make_bridge(upstream={"pool": {"enabled": request.param == "pooled"}})


def test_change_user_behind_a_result_still_arriving(endpoint: Bridge) -> None:
    with closing(connect("pymysql", endpoint, "nat", "nat-pw", "tcp")) as other:
        raw = login(endpoint.port)
        sql = f"SELECT seq, REPEAT('x', 100) FROM shop.seq_1_to_{ROWS}".encode()
        raw.send_raw(query(sql) + change_user("local"))
        rows = read_result(raw)
        assert len(rows) == ROWS and rows[-1].startswith(b"\x04" + str(ROWS).encode())
        assert answer_switch(raw, b"local-pw")[:1] == b"\0"  # OK: the session is 'local' now
        assert current_user(raw) == b"local@%"
        assert scalar(other, "SELECT CURRENT_USER()") == "nat@%"  # the others go on
        raw.send(bytes([Command.COM_QUIT]), 0)
        assert raw.closed()
        raw.close()
    # the connection that went back (pooled) is in step: the next client gets its own answers
    with closing(connect("pymysql", endpoint, "local", "local-pw", "tcp")) as after:
        assert scalar(after, "SELECT CURRENT_USER()") == "local@%"
        assert scalar(after, "SELECT 41 + 1") == 42


def test_several_commands_then_change_user_then_more(endpoint: Bridge) -> None:
    """A slow query, a prepared statement and a command without an answer (COM_STMT_CLOSE)
    ahead of the change. (Nothing can be pipelined behind COM_CHANGE_USER itself: its
    authentication exchange reads the client's next packet, with mysqld too.)"""
    raw = login(endpoint.port)
    prepare = frame(bytes([Command.COM_STMT_PREPARE]) + b"SELECT ?", 0)
    close = frame(bytes([Command.COM_STMT_CLOSE]) + (1).to_bytes(4, "little"), 0)
    raw.send_raw(
        query(b"SELECT SLEEP(0.3)")
        + prepare
        + close
        + query(b"DO 1")
        + change_user("local", "shop")
    )
    assert read_result(raw) == [b"\x010"]
    seq, ok = raw.read()  # COM_STMT_PREPARE: OK, a parameter and a column, each with an EOF
    assert (seq, ok[:1]) == (1, b"\0")
    assert [raw.read()[0] for _ in range(4)] == [2, 3, 4, 5]
    seq, ok = raw.read()  # DO 1 (COM_STMT_CLOSE has no answer)
    assert (seq, ok[:1]) == (1, b"\0")
    assert answer_switch(raw, b"local-pw")[:1] == b"\0"
    raw.send_raw(query(b"SELECT DATABASE()"))
    assert read_result(raw) == [b"\x04shop"]
    assert current_user(raw) == b"local@%"
    raw.close()


def test_a_refused_change_user_and_a_refused_kill_come_after_the_result(bridge: Bridge) -> None:
    raw = login(bridge.port)
    sql = f"SELECT seq FROM shop.seq_1_to_{ROWS}".encode()
    raw.send_raw(query(sql) + change_user("local"))
    assert len(read_result(raw)) == ROWS
    final = answer_switch(raw, b"wrong")
    assert parse_err(final).errno == 1045  # refused: the session stays 'nat'
    raw.send_raw(query(sql) + query(b"KILL 4000000000"))
    assert len(read_result(raw)) == ROWS
    seq, err = raw.read()
    assert (seq, parse_err(err).errno) == (1, 1094)  # Unknown thread id, after the rows
    assert current_user(raw) == b"nat@%"
    raw.close()


def test_nothing_pending_costs_no_extra_round_trip(bridge: Bridge) -> None:
    """With nothing forwarded since the upstream was last idle, the bridge answers at once;
    otherwise it first asks the upstream one `SELECT X'<token>'` (the client never sees
    it): the upstream session's own Com_select counts it."""
    raw = login(bridge.port)
    raw.send_raw(change_user("nat"))  # right after the login: nothing under way
    assert answer_switch(raw, b"nat-pw")[:1] == b"\0"  # (resets the session's status)
    raw.send_raw(query(b"KILL 4000000000"))  # right after the change: nothing under way
    assert parse_err(raw.read()[1]).errno == 1094
    status = query(b"SHOW SESSION STATUS LIKE 'Com_select'")
    raw.send_raw(status)
    assert read_result(raw) == [b"\x0aCom_select\x010"]
    raw.send_raw(query(b"KILL 4000000000"))  # behind SHOW STATUS: the upstream is asked
    assert parse_err(raw.read()[1]).errno == 1094
    raw.send_raw(status)
    assert read_result(raw) == [b"\x0aCom_select\x011"]
    raw.close()


def test_node_mariadb_pipelines_kills_behind_its_queries(bridge: Bridge, mariadb: MariaDB) -> None:
    """The Node `mariadb` connector writes queries without waiting for earlier answers
    (pipelining, its default). KILLs the bridge refuses itself (ids it does not know) come
    back in their place, as from MariaDB. (Its changeUser behind a query hangs even against
    MariaDB directly, connector 3.5.4, so COM_CHANGE_USER is proven with the raw client.)"""
    script = """
const mariadb = require("mariadb");
(async () => {
  const conn = await mariadb.createConnection(JSON.parse(process.argv[1]));
  const fail = (e) => ({errno: e.errno});
  const steps = [
    conn.query({sql: "SELECT seq FROM shop.seq_1_to_20000", rowsAsArray: true}).then((r) => r.length, fail),
    conn.query("KILL 4000000000").then(() => "killed", fail),
    conn.query({sql: "SELECT seq FROM shop.seq_1_to_3", rowsAsArray: true}).then((r) => r.length, fail),
    conn.query("KILL QUERY 4000000001").then(() => "killed", fail),
    conn.query({sql: "SELECT CURRENT_USER()", rowsAsArray: true}).then((r) => r[0][0], fail),
  ];
  console.log(JSON.stringify(await Promise.all(steps)));
  await conn.end();
})().catch((err) => { console.log(JSON.stringify({error: String(err)})); process.exit(1); });
"""

    def run(port: int, password: str) -> object:
        spec = {"host": "127.0.0.1", "port": port, "user": "nat", "password": password,
                "ssl": False, "pipelining": True}  # fmt: skip
        done = subprocess.run(["node", "-e", script, json.dumps(spec)], cwd=NODE,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        return json.loads(done.stdout or "null")

    expected = [20000, {"errno": 1094}, 3, {"errno": 1094}, "nat@%"]
    assert run(mariadb.port, "up-nat") == expected
    assert run(bridge.port, "nat-pw") == expected


def test_an_upstream_silent_past_the_deadline_ends_the_session(make_bridge: MakeBridge) -> None:
    """The safe answer where mysqld would wait: a change pipelined behind a query that keeps
    the upstream silent for longer than server.change_user_timeout closes the session,
    with one line in the log that says why; nothing of it goes back to the pool."""
    bridge = make_bridge(server={"change_user_timeout": 1})
    raw = login(bridge.port)
    raw.send_raw(query(b"SELECT SLEEP(3)") + change_user("local"))
    assert raw.closed()
    raw.close()
    assert "pipelined behind others, and the upstream sent nothing for 1 s" in bridge.log
    assert "kept for" not in bridge.log  # closed, never given to the pool
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as other:
        assert scalar(other, "SELECT CURRENT_USER()") == "nat@%"
