"""KILL through the bridge: the mariadb CLI's Ctrl-C, KILL [QUERY|CONNECTION] <id> and
COM_PROCESS_KILL name bridge connection ids (the greeting's), which the bridge translates to
upstream thread ids and runs on the issuing client's own upstream connection."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sandbox.bridgeproc import Account, run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, wait_until
from tests.integration.harness import ACCOUNTS, Bridge, closing, connect, error_of, scalar

pytestmark = pytest.mark.integration


def running_sleeps(mariadb: MariaDB) -> list[int]:
    """Upstream thread ids running a SLEEP, seen directly on the upstream."""
    out = mariadb.sql(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(%' "
        "AND COMMAND = 'Query'"
    )
    return [int(line) for line in out.split()]


def cli_sleeping(bridge: Bridge, seconds: int = 30) -> subprocess.Popen[str]:
    cmd = ["mariadb", "--no-defaults", "-unat", "-pnat-pw", "-h127.0.0.1", f"-P{bridge.port}",
           "--protocol=TCP", "--skip-ssl", "-e", f"SELECT SLEEP({seconds})"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_ctrl_c_in_the_mariadb_cli_kills_the_running_query(
    bridge: Bridge, mariadb: MariaDB
) -> None:
    before = set(running_sleeps(mariadb))
    cli = cli_sleeping(bridge)
    try:
        wait_until(lambda: bool(set(running_sleeps(mariadb)) - before), 10, "the SLEEP upstream")
        interrupted = time.perf_counter()
        cli.send_signal(signal.SIGINT)  # the CLI sends KILL QUERY <its greeting id>
        out, _ = cli.communicate(timeout=10)
        took = time.perf_counter() - interrupted
    finally:
        cli.kill()
    assert "query killed" in out and "1317" in out, out  # Query execution was interrupted
    assert took < 1.0, f"the query ran on for {took:.2f} s after Ctrl-C"
    assert not set(running_sleeps(mariadb)) - before
    assert "KILL QUERY" in bridge.log


def direct_with_a_high_thread_id(mariadb: MariaDB) -> tuple[Any, int]:
    """A direct root connection whose upstream thread id (50 or more) no fresh bridge hands
    out as a connection id: what a forwarded number would hit."""
    direct = pymysql.connect(unix_socket=str(mariadb.socket), user="root")
    while scalar(direct, "SELECT CONNECTION_ID()") < 50:
        direct.close()
        direct = pymysql.connect(unix_socket=str(mariadb.socket), user="root")
    return direct, scalar(direct, "SELECT CONNECTION_ID()")


def sleep_in_thread(conn: Any, seconds: int = 30) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(scalar(conn, f"SELECT SLEEP({seconds})"))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("statement", ["KILL QUERY {id}", "  /* c */ kill\n  query {id} ;"])
def test_kill_query_from_another_client(bridge: Bridge, mariadb: MariaDB, statement: str) -> None:
    before = set(running_sleeps(mariadb))
    with closing(connect("pymysql", bridge, "app", "app-pw", "tls")) as victim:
        thread, outcome = sleep_in_thread(victim)
        wait_until(lambda: bool(set(running_sleeps(mariadb)) - before), 10, "the SLEEP upstream")
        with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tcp")) as killer:
            started = time.perf_counter()  # the KILL, not the killer's login, is timed
            killer.cursor().execute(statement.format(id=victim.thread_id()))
        thread.join(10)
        assert time.perf_counter() - started < 1.0  # of the SLEEP's 30 s
        assert isinstance(outcome[0], pymysql.err.MySQLError)
        assert error_of(outcome[0])[0] == 1317  # Query execution was interrupted
        assert scalar(victim, "SELECT 7") == 7  # KILL QUERY leaves the connection


def test_kill_connection_and_com_process_kill(bridge: Bridge) -> None:
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as killer:
        for how in ("KILL CONNECTION {id}", "KILL {id}", "COM_PROCESS_KILL"):
            victim = connect("pymysql", bridge, "app", "app-pw", "tcp")
            upstream_thread = scalar(victim, "SELECT CONNECTION_ID()")
            if how == "COM_PROCESS_KILL":
                killer.kill(victim.thread_id())
            else:
                killer.cursor().execute(how.format(id=victim.thread_id()))
            with pytest.raises(pymysql.err.OperationalError):
                scalar(victim, "SELECT 1")
            gone = scalar(
                killer, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                (upstream_thread,),
            )  # fmt: skip
            assert gone == 0, how


def test_kill_of_an_unknown_id_touches_no_upstream_thread(
    make_bridge: Any, mariadb: MariaDB
) -> None:
    """A fresh bridge knows ids 1..few; the upstream thread with a bigger id, sleeping on a
    direct connection, is what a forwarded number would have hit."""
    bridge = make_bridge()
    direct, target = direct_with_a_high_thread_id(mariadb)
    with closing(direct):
        thread, outcome = sleep_in_thread(direct, 2)
        time.sleep(0.3)
        with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as killer:
            for kill in (f"KILL QUERY {target}", f"KILL {target}"):
                with pytest.raises(pymysql.err.MySQLError) as caught:
                    killer.cursor().execute(kill)
                assert error_of(caught.value) == (1094, f"Unknown thread id: {target}")
            with pytest.raises(pymysql.err.MySQLError) as caught:
                killer.kill(target)
            assert error_of(caught.value)[0] == 1094
            assert scalar(killer, "SELECT 1") == 1  # the session goes on
        thread.join(10)
        assert outcome == [0]  # the direct connection's SLEEP ran to its end
    assert "does not know" in bridge.log


def test_kill_the_bridge_cannot_translate_is_refused(bridge: Bridge) -> None:
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as conn:
        for sql in ("KILL 1; SELECT 1", "KILL @id", "KILL (1)"):
            with pytest.raises(pymysql.err.MySQLError) as caught:
                conn.cursor().execute(sql)
            assert error_of(caught.value)[0] == 1235, sql
        assert scalar(conn, "SELECT 'kill'") == "kill"  # a query that starts with a quote
        assert scalar(conn, " SELECT 2") == 2  # held for the KILL test, then passed on
        assert scalar(conn, "/* KILL 1 */ SELECT 3") == 3


LOWPRIV = Account("lowpriv", "low-pw", "mysql_native_password", upstream_password="up-low")


def test_the_upstream_enforces_the_issuing_accounts_privileges(
    make_bridge: Any, mariadb: MariaDB
) -> None:
    mariadb.sql("CREATE USER IF NOT EXISTS 'lowpriv'@'%' IDENTIFIED BY 'up-low'")
    bridge = make_bridge(accounts=[*ACCOUNTS, LOWPRIV])
    with closing(connect("pymysql", bridge, "app", "app-pw", "tcp")) as victim:
        with closing(connect("pymysql", bridge, "lowpriv", "low-pw", "tcp")) as weak:
            with pytest.raises(pymysql.err.MySQLError) as caught:
                weak.cursor().execute(f"KILL {victim.thread_id()}")
            assert error_of(caught.value)[0] == 1095  # You are not owner of thread
        assert scalar(victim, "SELECT 1") == 1


def test_kill_across_workers(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> None:
    """Under --workers 2, a KILL that lands on the other worker finds the session in the
    workers' shared registry (ids are odd in worker 0, even in worker 1)."""
    port = free_port()
    write_config(tmp_path, port, mariadb.port, certs, ACCOUNTS, None, server={"connect_timeout": 5},
                 log={"level": "debug"})  # fmt: skip
    bridge = run_bridge(tmp_path, port, certs, None, ("--workers", "2"))
    try:
        crossed = 0
        for _ in range(40):
            victim = connect("pymysql", bridge, "nat", "nat-pw", "tcp")
            killer = connect("pymysql", bridge, "nat", "nat-pw", "tcp")
            with closing(killer), closing(victim):
                if victim.thread_id() % 2 == killer.thread_id() % 2:
                    continue
                killer.cursor().execute(f"KILL CONNECTION {victim.thread_id()}")
                with pytest.raises(pymysql.err.OperationalError):
                    scalar(victim, "SELECT 1")
                crossed += 1
            if crossed == 3:
                break
        assert crossed == 3, "the kernel never spread the connections over both workers"
    finally:
        bridge.stop()
