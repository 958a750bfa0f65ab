"""KILL between external users mapped to one upstream account: the upstream sees one
account, so the bridge decides as mysqld does with USER() (the login user): another user's
session needs an account that may kill other users' threads (CONNECTION ADMIN / SUPER
upstream), else ERROR 1095 and nothing reaches the upstream. Real MariaDB, real clients,
across --workers and across two bridges sharing Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from bridge.protocol.packets import parse_err
from sandbox.bridgeproc import Account, add_grants, run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, wait_until
from sandbox.redis import RedisServer
from tests.integration.harness import closing, connect, error_of, mariadb_cli, scalar
from tests.integration.test_kill import running_sleeps, sleep_in_thread
from tests.integration.test_pipelined_commands import (
    ROWS,
    current_user,
    login,
    query,
    read_result,
)
from tests.integration.test_state_redis import same_accounts, state_section, wait_registered

pytestmark = pytest.mark.integration

PEOPLE = [Account("alice", "alice-pw", "caching_sha2_password"),
          Account("bob", "bob-pw", "caching_sha2_password")]  # fmt: skip
SHARED = "developer"  # the upstream account both are proxied to
UPSTREAM = {SHARED: "up-developer"}


def grants(account: str = SHARED) -> list[dict[str, Any]]:
    return [{"proxy": f"'{p.user}'@'%'", "proxied": [f"'{account}'@'%'"]} for p in PEOPLE]


@pytest.fixture(scope="module")
def shared_account(mariadb: MariaDB) -> Iterator[Callable[[str], None]]:
    """`developer` upstream with SELECT only; the callable re-grants it (a privilege, or
    none: ''), as the upstream DBA would."""
    mariadb.sql(f"CREATE USER IF NOT EXISTS '{SHARED}'@'%' IDENTIFIED BY 'up-developer'")

    def privileged(privilege: str) -> None:
        mariadb.sql(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{SHARED}'@'%'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{SHARED}'@'%'")
        if privilege:
            mariadb.sql(f"GRANT {privilege} ON *.* TO '{SHARED}'@'%'")

    privileged("")
    yield privileged
    privileged("")


def two_people_bridge(make_bridge: Any, **sections: Any) -> Any:
    return make_bridge(accounts=PEOPLE, upstream_only=UPSTREAM, proxy_grants=grants(), **sections)


def assert_refused(killer: Any, statement: str, target: int) -> None:
    with pytest.raises(pymysql.err.MySQLError) as caught:
        if statement == "COM_PROCESS_KILL":
            killer.kill(target)
        else:
            killer.cursor().execute(statement.format(id=target))
    assert error_of(caught.value) == (1095, f"You are not owner of thread {target}"), statement


def assert_gone(victim: Any) -> None:
    with pytest.raises(pymysql.err.OperationalError):
        scalar(victim, "SELECT 1")


def test_another_user_on_the_same_account_gets_1095_and_the_session_lives(
    make_bridge: Any, mariadb: MariaDB, shared_account: Callable[[str], None]
) -> None:
    bridge = two_people_bridge(make_bridge)
    with closing(connect("pymysql", bridge, "bob", "bob-pw", "tls")) as bob:
        assert scalar(bob, "SELECT CURRENT_USER()") == f"{SHARED}@%"
        before = set(running_sleeps(mariadb))
        thread, outcome = sleep_in_thread(bob, 2)
        wait_until(lambda: bool(set(running_sleeps(mariadb)) - before), 10, "bob's SLEEP")
        with closing(connect("pymysql", bridge, "alice", "alice-pw", "tcp")) as alice:
            assert scalar(alice, "SELECT CURRENT_USER()") == f"{SHARED}@%"
            for statement in ("KILL QUERY {id}", "KILL {id}", "KILL CONNECTION {id}",
                              " /* c */ kill soft query {id};", "COM_PROCESS_KILL"):  # fmt: skip
                assert_refused(alice, statement, bob.thread_id())
            assert scalar(alice, "SELECT 2") == 2  # the killer's session goes on
        cli = mariadb_cli(bridge, "alice", "alice-pw", sql=f"KILL {bob.thread_id()}")
        assert cli.returncode == 1
        assert f"ERROR 1095 (HY000) at line 1: You are not owner of thread {bob.thread_id()}" in (
            cli.stderr
        )
        thread.join(10)
        assert outcome == [0]  # bob's SLEEP ran to its end
        assert scalar(bob, "SELECT 3") == 3
    assert "another user's session" in bridge.log


def test_the_refusal_reads_as_the_upstreams_own(
    mariadb: MariaDB, shared_account: Callable[[str], None]
) -> None:
    """The same KILL straight at MariaDB, by an account without the privilege: the same
    error number, SQLSTATE and words."""
    direct: Any = pymysql.connect(host="127.0.0.1", port=mariadb.port, user=SHARED,
                                  password="up-developer")  # fmt: skip
    root: Any = pymysql.connect(unix_socket=str(mariadb.socket), user="root")
    with closing(direct), closing(root):
        target = root.thread_id()
        with pytest.raises(pymysql.err.MySQLError) as caught:
            direct.cursor().execute(f"KILL {target}")
        assert error_of(caught.value) == (1095, f"You are not owner of thread {target}")


def test_the_same_user_kills_its_own_other_session(
    make_bridge: Any, shared_account: Callable[[str], None]
) -> None:
    bridge = two_people_bridge(make_bridge)
    with closing(connect("pymysql", bridge, "alice", "alice-pw", "tcp")) as killer:
        for how in ("KILL {id}", "KILL CONNECTION {id}", "COM_PROCESS_KILL"):
            victim = connect("mysqlclient", bridge, "alice", "alice-pw", "tls")
            if how == "COM_PROCESS_KILL":
                killer.kill(victim.thread_id())
            else:
                killer.cursor().execute(how.format(id=victim.thread_id()))
            with pytest.raises(Exception):
                victim.cursor().execute("SELECT 1")
            victim.close()
        assert scalar(killer, "SELECT 1") == 1
    assert "upstream account may not" not in bridge.log  # no privilege question asked


@pytest.mark.parametrize("privilege", ["CONNECTION ADMIN", "SUPER"])
def test_an_account_with_the_privilege_kills_another_users_session(
    make_bridge: Any, shared_account: Callable[[str], None], privilege: str
) -> None:
    shared_account(privilege)
    try:
        bridge = two_people_bridge(make_bridge)
        with closing(connect("pymysql", bridge, "alice", "alice-pw", "tcp")) as alice:
            for how in ("KILL {id}", "COM_PROCESS_KILL"):
                bob = connect("pymysql", bridge, "bob", "bob-pw", "tls")
                if how == "COM_PROCESS_KILL":
                    alice.kill(bob.thread_id())
                else:
                    alice.cursor().execute(how.format(id=bob.thread_id()))
                assert_gone(bob)
                assert scalar(alice, "SELECT 1") == 1  # the question's answer went nowhere
    finally:
        shared_account("")


@pytest.fixture
def killer_role(mariadb: MariaDB, shared_account: Callable[[str], None]) -> Iterator[None]:
    """CONNECTION ADMIN only through a role: `kill_others` holds `killer` (nested, as DBAs
    build them), granted to the shared account and set as its default role; `reader`,
    also granted but never set, holds PROCESS only."""
    shared_account("")
    for statement in ["CREATE ROLE killer", "GRANT CONNECTION ADMIN ON *.* TO killer",
                      "CREATE ROLE kill_others", "GRANT killer TO kill_others",
                      "CREATE ROLE reader", "GRANT PROCESS ON *.* TO reader",
                      f"GRANT reader TO '{SHARED}'@'%'", f"GRANT kill_others TO '{SHARED}'@'%'",
                      f"SET DEFAULT ROLE kill_others FOR '{SHARED}'@'%'"]:  # fmt: skip
        mariadb.sql(statement)
    try:
        yield
    finally:
        mariadb.sql(f"SET DEFAULT ROLE NONE FOR '{SHARED}'@'%'")
        for role in ("kill_others", "killer", "reader"):
            mariadb.sql(f"DROP ROLE {role}")


def test_the_privilege_through_the_default_role_kills_as_mariadb_does(
    make_bridge: Any, killer_role: None
) -> None:
    """The upstream account holds CONNECTION ADMIN only through its default role (nested):
    MariaDB lets such a KILL through, so the bridge does (PyMySQL and the mariadb CLI)."""
    bridge = two_people_bridge(make_bridge)
    with closing(connect("pymysql", bridge, "alice", "alice-pw", "tcp")) as alice:
        assert scalar(alice, "SELECT CURRENT_ROLE()") == "kill_others"
        bob = connect("pymysql", bridge, "bob", "bob-pw", "tls")
        alice.cursor().execute(f"KILL {bob.thread_id()}")
        assert_gone(bob)
        bob = connect("pymysql", bridge, "bob", "bob-pw", "tls")
        done = mariadb_cli(bridge, "alice", "alice-pw", sql=f"KILL {bob.thread_id()}")
        assert done.returncode == 0, done.stderr
        assert_gone(bob)
        assert scalar(alice, "SELECT 1") == 1  # the question's answer went nowhere


def test_set_role_within_a_session_changes_the_answer(make_bridge: Any, killer_role: None) -> None:
    """SET ROLE NONE: no privilege, 1095 (as MariaDB); a role granted but not set (reader)
    does not count; SET ROLE back: the KILL goes through. Asked at each KILL, not kept."""
    bridge = two_people_bridge(make_bridge)
    with (
        closing(connect("pymysql", bridge, "alice", "alice-pw", "tcp")) as alice,
        closing(connect("pymysql", bridge, "bob", "bob-pw", "tls")) as bob,
    ):
        alice.cursor().execute("SET ROLE NONE")
        assert_refused(alice, "KILL {id}", bob.thread_id())
        alice.cursor().execute("SET ROLE reader")
        assert_refused(alice, "COM_PROCESS_KILL", bob.thread_id())
        assert scalar(bob, "SELECT 1") == 1
        alice.cursor().execute("SET ROLE kill_others")
        alice.cursor().execute(f"KILL {bob.thread_id()}")
        assert_gone(bob)
        assert scalar(alice, "SELECT CURRENT_ROLE()") == "kill_others"


@pytest.fixture
def own_database(mariadb: MariaDB, shared_account: Callable[[str], None]) -> Iterator[None]:
    """The shared account owns `shared_app` WITH GRANT OPTION (a common grant for an
    application's account): it may name its tables and columns, and grant on them to itself."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS shared_app")
    mariadb.sql(f"GRANT ALL ON shared_app.* TO '{SHARED}'@'%' WITH GRANT OPTION")
    try:
        yield
    finally:
        mariadb.sql("DROP DATABASE shared_app")
        shared_account("")


def test_a_grant_on_a_name_that_reads_as_a_global_grant_gives_no_privilege(
    make_bridge: Any, own_database: None
) -> None:
    """SHOW GRANTS writes a column's and a table's name inside the row: a client that names
    them `a, SUPER ON *.* TO b` and grants itself SELECT on them holds no global privilege,
    and its KILL of another user's session is refused (1095) as before."""
    bridge = two_people_bridge(make_bridge)
    with (
        closing(connect("pymysql", bridge, "alice", "alice-pw", "tcp")) as alice,
        closing(connect("pymysql", bridge, "bob", "bob-pw", "tls")) as bob,
    ):
        cursor = alice.cursor()
        cursor.execute("CREATE TABLE shared_app.t (`a, SUPER ON *.* TO b` INT)")
        cursor.execute("GRANT SELECT (`a, SUPER ON *.* TO b`) ON shared_app.t TO CURRENT_USER")
        cursor.execute("CREATE TABLE shared_app.`x, CONNECTION ADMIN ON *.* TO y` (i INT)")
        cursor.execute(
            "GRANT SELECT ON shared_app.`x, CONNECTION ADMIN ON *.* TO y` TO CURRENT_USER"
        )
        for statement in ("KILL {id}", "COM_PROCESS_KILL"):
            assert_refused(alice, statement, bob.thread_id())
        assert scalar(bob, "SELECT 1") == 1


def test_change_user_moves_the_session_to_its_new_owner(
    make_bridge: Any, shared_account: Callable[[str], None]
) -> None:
    """After COM_CHANGE_USER to bob, alice's old session is bob's: alice may no longer
    kill it, bob may."""
    bridge = two_people_bridge(make_bridge)
    changed = connect("connector", bridge, "alice", "alice-pw", "tls")
    changed.cmd_change_user(username="bob", password="bob-pw")
    target = changed.connection_id
    with closing(connect("pymysql", bridge, "alice", "alice-pw", "tcp")) as alice:
        assert_refused(alice, "KILL {id}", target)
    with closing(connect("pymysql", bridge, "bob", "bob-pw", "tcp")) as bob:
        bob.cursor().execute(f"KILL {target}")
    with pytest.raises(Exception):
        changed.cmd_query("SELECT 1")
    changed.close()


def test_across_workers(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, shared_account: Callable[[str], None]
) -> None:
    """--workers 2: the owner is in the shared-memory entry the other worker reads."""
    port = free_port()
    write_config(tmp_path, port, mariadb.port, certs, PEOPLE, UPSTREAM,
                 server={"connect_timeout": 5}, log={"level": "debug"})  # fmt: skip
    add_grants(tmp_path / "accounts.yaml", grants())
    bridge = run_bridge(tmp_path, port, certs, None, ("--workers", "2"))
    try:
        refused = killed = 0
        for _ in range(60):
            victim = connect("pymysql", bridge, "bob", "bob-pw", "tcp")
            killer_name = "alice" if refused <= killed else "bob"
            killer = connect("pymysql", bridge, killer_name, f"{killer_name}-pw", "tcp")
            with closing(killer), closing(victim):
                if victim.thread_id() % 2 == killer.thread_id() % 2:
                    continue  # the same worker
                if killer_name == "alice":
                    assert_refused(killer, "KILL {id}", victim.thread_id())
                    assert scalar(victim, "SELECT 1") == 1
                    refused += 1
                else:
                    killer.cursor().execute(f"KILL {victim.thread_id()}")
                    assert_gone(victim)
                    killed += 1
            if refused >= 2 and killed >= 2:
                break
        assert refused >= 2 and killed >= 2, "the kernel never spread the connections"
    finally:
        bridge.stop()


def test_across_two_bridges_sharing_redis(
    make_bridge: Any, tmp_path: Path, redis_server: RedisServer,
    shared_account: Callable[[str], None],
) -> None:  # fmt: skip
    """The owner digest travels in the engine's entry, keyed by the shared key file: the
    same user on another instance kills, another user gets 1095."""
    state = state_section(tmp_path, redis_server)
    a, b = (two_people_bridge(make_bridge, state=state) for _ in range(2))
    same_accounts([a, b])
    with closing(connect("pymysql", a, "bob", "bob-pw", "tls")) as bob:
        with closing(connect("pymysql", b, "alice", "alice-pw", "tls")) as alice:
            assert alice.thread_id() >> 20 != bob.thread_id() >> 20  # another instance slot
            wait_registered(redis_server, bob.thread_id())
            assert_refused(alice, "KILL {id}", bob.thread_id())
            assert scalar(bob, "SELECT 1") == 1
        with closing(connect("pymysql", b, "bob", "bob-pw", "tls")) as bob_on_b:
            bob_on_b.cursor().execute(f"KILL {bob.thread_id()}")
        assert_gone(bob)


@pytest.mark.parametrize("privilege", ["", "CONNECTION ADMIN"])
def test_pipelined_behind_a_result_the_answers_stay_in_order(
    make_bridge: Any, shared_account: Callable[[str], None], privilege: str
) -> None:
    """A KILL of another user's session right behind a query whose rows are still coming:
    the rows first, then the KILL's answer (1095, or OK once the privilege question,
    asked behind the rows, says yes); the question's own answer never reaches the client."""
    shared_account(privilege)
    carol = Account("carol", "carol-pw", "mysql_native_password")
    bridge = make_bridge(accounts=[*PEOPLE, carol], upstream_only=UPSTREAM,
                         proxy_grants=[*grants(), *grants_for("carol")])  # fmt: skip
    try:
        with closing(connect("pymysql", bridge, "alice", "alice-pw", "tls")) as alice:
            raw = login(bridge.port, "carol", b"carol-pw")
            sql = f"SELECT seq FROM shop.seq_1_to_{ROWS}".encode()
            raw.send_raw(query(sql) + query(f"KILL {alice.thread_id()}".encode()))
            assert len(read_result(raw)) == ROWS
            seq, answer = raw.read()
            assert seq == 1
            if privilege:
                assert answer[:1] == b"\0"  # OK: killed
                assert_gone(alice)
            else:
                assert parse_err(answer).errno == 1095
                assert scalar(alice, "SELECT 1") == 1
            assert current_user(raw) == f"{SHARED}@%".encode()
            raw.close()
    finally:
        shared_account("")


def grants_for(user: str) -> list[dict[str, Any]]:
    return [{"proxy": f"'{user}'@'%'", "proxied": [f"'{SHARED}'@'%'"]}]
