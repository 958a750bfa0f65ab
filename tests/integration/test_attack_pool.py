"""Attacks on the upstream pool: what a client leaves behind must not outlive it, nor reach
the next client."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    Account,
    MakeBridge,
    closing,
    connect,
    create_upstream_accounts,
    error_of,
    scalar,
)
from tests.integration.test_pool import KEPT, kept, thread_id

pytestmark = pytest.mark.integration


def test_a_kept_connection_holds_no_lock_of_the_client_that_left(
    make_bridge: MakeBridge, mariadb: MariaDB
) -> None:
    """A named lock (GET_LOCK) or LOCK TABLES ends with the client's COM_QUIT, as on a
    direct connection: the idle pooled connection must not hold it for idle_timeout."""
    mariadb.sql("CREATE TABLE IF NOT EXISTS shop.pool_attack (x INT)")
    bridge = make_bridge()
    before = bridge.log.count(KEPT)
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls", autocommit=True)) as c:
        assert scalar(c, "SELECT GET_LOCK('pool_attack_lock', 0)") == 1
        c.cursor().execute("LOCK TABLES shop.pool_attack WRITE")
        previous = thread_id(c)
    kept(bridge, before)
    assert mariadb.sql("SELECT IS_USED_LOCK('pool_attack_lock')") == "NULL"
    unlocked = "SET SESSION lock_wait_timeout = 2; SELECT COUNT(*) FROM shop.pool_attack"
    assert mariadb.sql(unlocked) == "0"  # LOCK TABLES ended too
    with closing(connect("pymysql", bridge, "app", "app-pw", "tls", autocommit=True)) as c:
        assert scalar(c, "SELECT GET_LOCK('pool_attack_lock', 0)") == 1  # another account
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) == previous  # the connection was still kept and reused


MULTI = "SELECT 1; SELECT 2"
MULTI_STATEMENTS_ON, MULTI_STATEMENTS_OFF = 0, 1  # mysql_set_server_option()'s options


def runs_two_statements(conn: Any) -> bool:
    """Whether the connection runs a multi-statement query (False: 1064, as for a client
    that did not negotiate CLIENT_MULTI_STATEMENTS)."""
    cur = conn.cursor()
    try:
        cur.execute(MULTI)
    except Exception as exc:
        assert error_of(exc)[0] == 1064
        return False
    cur.fetchall()
    assert cur.nextset()
    return True


def test_multi_statements_one_client_switched_on_are_off_for_the_next(
    make_bridge: MakeBridge,
) -> None:
    """COM_SET_OPTION survives COM_RESET_CONNECTION and COM_CHANGE_USER on MariaDB: a client
    that switched multi-statements on must not hand them to the next client of its account,
    which did not negotiate them (stacked queries where it expected one statement)."""
    bridge = make_bridge()
    before = bridge.log.count(KEPT)
    with closing(
        connect("mysqlclient", bridge, "nat", "nat-pw", "tls", multi_statements=False)
    ) as c:
        assert not runs_two_statements(c)
        c.set_server_option(MULTI_STATEMENTS_ON)
        assert runs_two_statements(c)
        previous = thread_id(c)
    kept(bridge, before)
    with closing(
        connect("mysqlclient", bridge, "nat", "nat-pw", "tls", multi_statements=False)
    ) as c:
        assert thread_id(c) == previous  # the same upstream connection
        assert not runs_two_statements(c)


def test_multi_statements_one_client_switched_off_are_on_for_the_next(
    make_bridge: MakeBridge,
) -> None:
    """The other way: a client that negotiated multi-statements gets them, also on a
    connection whose last client switched them off."""
    bridge = make_bridge()
    before = bridge.log.count(KEPT)
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tls")) as c:
        c.set_server_option(MULTI_STATEMENTS_OFF)
        assert not runs_two_statements(c)
        previous = thread_id(c)
    kept(bridge, before)
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) == previous
        assert runs_two_statements(c)


def test_a_role_one_client_enabled_is_not_the_next_clients(
    make_bridge: MakeBridge, mariadb: MariaDB
) -> None:
    """MariaDB keeps a role enabled by SET ROLE across COM_RESET_CONNECTION and
    COM_CHANGE_USER when the account has no default role: the next external user of the
    account must start as a fresh login does, with no role, or with the default role."""
    account = Account("roler", "roler-pw", "mysql_native_password", upstream_password="up-roler")
    create_upstream_accounts(mariadb, [account])
    mariadb.sql("CREATE ROLE IF NOT EXISTS pool_elevated")
    mariadb.sql("CREATE ROLE IF NOT EXISTS pool_default")
    mariadb.sql("GRANT pool_elevated TO 'roler'@'%'")
    mariadb.sql("GRANT pool_default TO 'roler'@'%'")
    mariadb.sql("SET DEFAULT ROLE NONE FOR 'roler'@'%'")
    bridge = make_bridge(accounts=[account])
    for default in (None, "pool_default"):
        if default:
            mariadb.sql(f"SET DEFAULT ROLE {default} FOR 'roler'@'%'")
        before = bridge.log.count(KEPT)
        with closing(connect("pymysql", bridge, "roler", "roler-pw", "tls")) as c:
            assert scalar(c, "SELECT CURRENT_ROLE()") == default
            c.cursor().execute("SET ROLE pool_elevated")
            assert scalar(c, "SELECT CURRENT_ROLE()") == "pool_elevated"
            previous = thread_id(c)
        kept(bridge, before)
        with closing(connect("pymysql", bridge, "roler", "roler-pw", "tls")) as c:
            assert thread_id(c) == previous
            assert scalar(c, "SELECT CURRENT_ROLE()") == default


@pytest.mark.parametrize("off_before_quit", [False, True])
def test_the_next_client_sees_no_profile_of_the_last_ones_statements(
    make_bridge: MakeBridge, off_before_quit: bool
) -> None:
    """SHOW PROFILES survives COM_RESET_CONNECTION and COM_CHANGE_USER on MariaDB, with the
    text of each statement (its literals too) and recording on: another external user of
    the account must not read what the last one ran, nor have its own statements kept."""
    bridge = make_bridge()
    before = bridge.log.count(KEPT)
    secret = "SELECT 'card 4111 1111 1111 1111' AS a_literal"
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        c.cursor().execute("SET profiling = 1")
        assert scalar(c, secret) is not None
        if off_before_quit:  # the history stays, the recording stops
            c.cursor().execute("SET profiling = 0")
        previous = thread_id(c)
    kept(bridge, before)
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as c:
        assert thread_id(c) == previous
        cur = c.cursor()
        cur.execute("SHOW PROFILES")
        assert cur.fetchall() == ()
        assert scalar(c, "SELECT @@profiling") == 0
        scalar(c, "SELECT 'not recorded'")
        cur.execute("SELECT COUNT(*) FROM information_schema.PROFILING")
        assert cur.fetchall() == ((0,),)
