"""Attacks on the upstream pool: what a client leaves behind must not outlive it, nor reach
the next client."""

from __future__ import annotations

import pytest

from sandbox.mariadb import MariaDB
from tests.integration.harness import MakeBridge, closing, connect, scalar
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
