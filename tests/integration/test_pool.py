"""The pool of upstream connections (upstream.pool): a connection goes back when the client
ends with COM_QUIT and comes out re-identified by COM_CHANGE_USER, with nothing of the
previous client left; what is not safe to reuse is closed."""

from __future__ import annotations

import socket
import time
from typing import Any

import pymysql
import pytest

from bridge.protocol.codec import Reader
from bridge.scramble import native_token
from sandbox.mariadb import MariaDB
from sandbox.ports import wait_until
from tests.integration.harness import (
    Bridge,
    MakeBridge,
    bridge_attr,
    closing,
    connect,
    error_of,
    scalar,
)
from tests.integration.rawclient import Raw

pytestmark = pytest.mark.integration
CLIENTS = ["pymysql", "connector", "mysqlclient"]
KEPT = "kept for"


def kept(bridge: Bridge, before: int) -> None:
    """Wait until the pool has taken back one more connection than `before`."""
    deadline = time.monotonic() + 10
    while bridge.log_now.count(KEPT) <= before:
        if time.monotonic() > deadline:
            raise AssertionError(f"no connection went back to the pool:\n{bridge.log[-3000:]}")
        time.sleep(0.02)


def upstream_ids(mariadb: MariaDB) -> list[str]:
    return mariadb.sql("SELECT ID FROM information_schema.PROCESSLIST").split()


def thread_id(conn: Any) -> int:
    return int(scalar(conn, "SELECT CONNECTION_ID()"))


@pytest.fixture
def pooled(make_bridge: MakeBridge, mariadb: MariaDB) -> Bridge:
    mariadb.sql("CREATE TABLE IF NOT EXISTS shop.seq (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    return make_bridge()  # the pool is on by default


def dirty(conn: Any) -> int:
    """Leave every kind of session state behind; return the upstream thread id."""
    cur = conn.cursor()
    cur.execute("SET @secret = 'previous client'")
    cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES', SESSION wait_timeout = 1234")
    cur.execute("CREATE TEMPORARY TABLE shop.tmp_left (x INT)")
    cur.execute("PREPARE left_stmt FROM 'SELECT 1'")
    cur.execute("INSERT INTO shop.seq (v) VALUES (1)")
    cur.execute("USE shop")
    cur.execute("SELECT GET_LOCK('pool_test_lock', 0)")
    cur.fetchall()
    conn.commit()
    assert int(scalar(conn, "SELECT LAST_INSERT_ID()")) > 0
    return thread_id(conn)


@pytest.mark.parametrize("client", CLIENTS)
def test_reused_connection_keeps_nothing_of_the_previous_client(
    pooled: Bridge, client: str
) -> None:
    before = pooled.log.count(KEPT)
    with closing(connect(client, pooled, "nat", "nat-pw", "tls")) as first:
        previous = dirty(first)
    kept(pooled, before)
    with closing(connect(client, pooled, "nat", "nat-pw", "tls")) as conn:
        assert thread_id(conn) == previous  # the same upstream connection ...
        assert scalar(conn, "SELECT @secret") is None  # ... reset by COM_CHANGE_USER
        assert scalar(conn, "SELECT @@SESSION.sql_mode") == scalar(conn, "SELECT @@GLOBAL.sql_mode")
        assert int(scalar(conn, "SELECT @@SESSION.wait_timeout")) != 1234
        assert int(scalar(conn, "SELECT LAST_INSERT_ID()")) == 0
        assert scalar(conn, "SELECT DATABASE()") is None
        with pytest.raises(Exception) as err:
            scalar(conn, "SELECT * FROM shop.tmp_left")
        assert error_of(err.value)[0] == 1146  # no such table: the temporary one is gone
        with pytest.raises(Exception) as err:
            scalar(conn, "EXECUTE left_stmt")
        assert error_of(err.value)[0] == 1243  # unknown prepared statement
        assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
        assert scalar(conn, "SELECT IS_USED_LOCK('pool_test_lock')") is None  # released


def test_reused_connection_carries_the_new_clients_identity_and_attributes(
    pooled: Bridge,
) -> None:
    before = pooled.log.count(KEPT)
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "tls", program_name="first")) as c:
        previous = thread_id(c)
        first_bridge_id = bridge_attr(c, "bridge_connection_id")
    kept(pooled, before)
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "plain", program_name="second")) as c:
        assert thread_id(c) == previous
        assert bridge_attr(c, "bridge_external_user") == "nat"
        assert bridge_attr(c, "bridge_transport") == "tcp"  # this client's, not the first's
        assert bridge_attr(c, "bridge_connection_id") != first_bridge_id
        assert bridge_attr(c, "program_name") == "second"


def test_the_database_the_new_client_asks_for(pooled: Bridge) -> None:
    before = pooled.log.count(KEPT)
    with closing(connect("mysqlclient", pooled, "nat", "nat-pw", "tls")) as c:
        previous = thread_id(c)
    kept(pooled, before)
    with closing(connect("mysqlclient", pooled, "nat", "nat-pw", "tls", database="shop")) as c:
        assert thread_id(c) == previous
        assert scalar(c, "SELECT DATABASE()") == "shop"


def test_a_client_that_leaves_inside_a_transaction_is_not_reused(
    pooled: Bridge, mariadb: MariaDB
) -> None:
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "tls")) as c:
        previous = thread_id(c)
        cur = c.cursor()
        cur.execute("START TRANSACTION")
        cur.execute("INSERT INTO shop.seq (v) VALUES (4242)")
    pooled.wait_log("left inside a transaction")
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) != previous
    assert mariadb.sql("SELECT COUNT(*) FROM shop.seq WHERE v = 4242") == "0"


def test_a_client_that_vanishes_without_quit_is_not_reused(pooled: Bridge) -> None:
    conn = connect("pymysql", pooled, "nat", "nat-pw", "plain")
    previous = thread_id(conn)
    conn._sock.shutdown(socket.SHUT_RDWR)  # the TCP connection just ends: no COM_QUIT
    conn._sock.close()
    time.sleep(0.3)
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) != previous
        assert KEPT not in pooled.log  # (this client's own COM_QUIT comes after)


def raw_login(bridge: Bridge) -> Raw:
    """A client that sends exactly what the test says: 'nat' with mysql_native_password."""
    raw = Raw.connect(bridge.port)
    greeting = raw.greeting()
    token = native_token(b"nat-pw", greeting.scramble[:20])
    raw.hello("nat", token, "mysql_native_password")
    assert raw.read()[1][:1] == b"\x00"
    return raw


def raw_scalar(raw: Raw, sql: str) -> bytes:
    raw.send(b"\x03" + sql.encode(), 0)
    packets = [raw.read()[1] for _ in range(5)]  # count, column, EOF, row, EOF
    return Reader(packets[3]).lenenc_bytes()


def test_an_unread_result_is_drained_before_reuse(pooled: Bridge) -> None:
    """The client asks for 50,000 rows and quits at once, reading nothing (pipelined): the
    rest of the result is read and dropped before the connection is kept."""
    before = pooled.log.count(KEPT)
    raw = raw_login(pooled)
    previous = raw_scalar(raw, "SELECT CONNECTION_ID()")
    raw.send(b"\x03SELECT seq FROM shop.seq_1_to_50000", 0)
    raw.send(b"\x01", 0)  # COM_QUIT
    assert raw.closed()  # it still reads: no reset, the bridge sees the COM_QUIT
    kept(pooled, before)
    raw = raw_login(pooled)
    assert raw_scalar(raw, "SELECT CONNECTION_ID()") == previous
    assert raw_scalar(raw, "SELECT 40 + 2") == b"42"  # in step: the old rows are gone
    raw.send(b"\x01", 0)
    raw.close()


def test_reload_empties_the_pool(pooled: Bridge) -> None:
    before = pooled.log.count(KEPT)
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "tls")) as c:
        previous = thread_id(c)
    kept(pooled, before)
    assert pooled.reload()
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) != previous


def test_idle_connections_close_after_idle_timeout(
    make_bridge: MakeBridge, mariadb: MariaDB
) -> None:
    bridge = make_bridge(upstream={"pool": {"idle_timeout": 0.5}})
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        previous = thread_id(c)
    kept(bridge, 0)
    # Closed upstream, not just forgotten: its thread leaves the server's process list
    # (idle_timeout 0.5 s; a busy machine runs the close later, and it must come)
    wait_until(lambda: str(previous) not in upstream_ids(mariadb), 10, "the idle close")
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) != previous


def test_idle_connections_close_before_the_upstreams_wait_timeout(make_bridge: MakeBridge) -> None:
    bridge = make_bridge()
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        c.cursor().execute("SET SESSION wait_timeout = 1")
        previous = thread_id(c)
    kept(bridge, 0)
    assert "up to 1 s" in bridge.log  # 80 % of the session's wait_timeout
    time.sleep(1.5)
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) != previous
        assert scalar(c, "SELECT 1") == 1


def test_bounded_per_account(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(upstream={"pool": {"max_idle_per_account": 1}})
    conns = [connect("pymysql", bridge, "nat", "nat-pw", "tls") for _ in range(3)]
    first = {thread_id(c) for c in conns}
    for c in conns:
        c.close()
    kept(bridge, 0)
    time.sleep(0.5)
    assert bridge.log.count(KEPT) == 1
    again = [connect("pymysql", bridge, "nat", "nat-pw", "tls") for _ in range(3)]
    assert len({thread_id(c) for c in again} & first) == 1
    for c in again:
        c.close()


def test_a_refused_request_costs_one_kept_connection_not_all(pooled: Bridge) -> None:
    """MariaDB takes a second to refuse a COM_CHANGE_USER: a client asking for a database
    that does not exist gets its error from the first kept connection, and the others stay."""
    conns = [connect("pymysql", pooled, "nat", "nat-pw", "plain") for _ in range(3)]
    ids = {thread_id(c) for c in conns}
    before = pooled.log.count(KEPT)
    for c in conns:
        c.close()
    for n in range(3):
        kept(pooled, before + n)
    started = time.monotonic()
    with pytest.raises(pymysql.err.MySQLError) as caught:
        connect("pymysql", pooled, "nat", "nat-pw", "plain", database="no_such_db")
    assert error_of(caught.value) == (1049, "Unknown database 'no_such_db'")
    assert time.monotonic() - started < 2.5  # one refused COM_CHANGE_USER, not three
    for _ in range(2):
        with closing(connect("pymysql", pooled, "nat", "nat-pw", "plain")) as c:
            assert thread_id(c) in ids  # the two others were still kept


def test_what_the_client_set_does_not_hide_the_checks_answer(pooled: Bridge) -> None:
    """The check's answer is found whatever the last client set for its results (a UTF-32
    result character set would re-encode a string token; a select limit of 0 hides rows)."""
    before = pooled.log.count(KEPT)
    started = time.monotonic()
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "plain")) as c:
        previous = thread_id(c)
        c.cursor().execute("SET character_set_results = utf32, sql_select_limit = 0")
    kept(pooled, before)
    assert time.monotonic() - started < 3  # not after the check's deadline (5 s)
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "plain")) as c:
        assert thread_id(c) == previous
        cur = c.cursor()
        cur.execute("SELECT @@character_set_results, @@sql_select_limit")
        row = cur.fetchone()
        assert row is not None and row[0] != "utf32" and int(row[1]) > 0  # reset for it


def test_accounts_do_not_share_connections(pooled: Bridge) -> None:
    before = pooled.log.count(KEPT)
    with closing(connect("pymysql", pooled, "nat", "nat-pw", "tls")) as c:
        previous = thread_id(c)
    kept(pooled, before)
    with closing(connect("pymysql", pooled, "app", "app-pw", "tls")) as c:
        assert thread_id(c) != previous
        assert scalar(c, "SELECT CURRENT_USER()") == "app@%"


def aborted_clients(mariadb: MariaDB) -> int:
    return int(mariadb.sql("SHOW GLOBAL STATUS LIKE 'Aborted_clients'").split()[1])


def test_pool_off(make_bridge: MakeBridge, mariadb: MariaDB) -> None:
    bridge = make_bridge(upstream={"pool": {"enabled": False}})
    aborted = aborted_clients(mariadb)
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        previous = thread_id(c)
    time.sleep(0.3)
    assert aborted_clients(mariadb) == aborted  # the client's COM_QUIT reached the upstream
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) != previous
    assert KEPT not in bridge.log


def test_pool_metrics(make_bridge: MakeBridge) -> None:
    from sandbox.ports import free_port
    from tests.integration.test_metrics import scrape, value

    port = free_port()
    bridge = make_bridge(metrics={"listen": f"127.0.0.1:{port}"})
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")):
        pass
    kept(bridge, 0)
    text = scrape(port, "/metrics")[1]
    assert value(text, "mysql_auth_bridge_upstream_pool_idle") == 1
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")):
        text = scrape(port, "/metrics")[1]
        assert value(text, "mysql_auth_bridge_upstream_pool_idle") == 0
        assert value(text, "mysql_auth_bridge_upstream_pool_reused") == 1
