"""Attacks on KILL translation: a number must never reach the upstream untranslated, however
the statement is dressed."""

from __future__ import annotations

import time
from typing import Any

import pymysql
import pytest
from pymysql.constants import CLIENT

from sandbox.mariadb import MariaDB
from tests.integration.harness import closing, connect, error_of, scalar
from tests.integration.test_kill import direct_with_a_high_thread_id, sleep_in_thread

pytestmark = pytest.mark.integration

SMUGGLED = [
    ("/*M!999999 SELECT 1; */ KILL {id}", "utf8mb4"),  # a version-gated comment MariaDB skips
    ("/*!99999 x */ KILL {id}", "utf8mb4"),
    ("\x0bKILL {id}", "utf8mb4"),  # vertical tab: whitespace to MariaDB
    ("\xa0KILL {id}", "latin1"),  # no-break space: whitespace in latin1
    (" SELECT 1; KILL {id}", "utf8mb4"),  # multi-statements
    ("/* c */ DO 1;KILL {id}", "utf8mb4"),
]


@pytest.mark.parametrize(("statement", "charset"), SMUGGLED)
def test_a_raw_upstream_thread_id_cannot_be_smuggled(
    make_bridge: Any, mariadb: MariaDB, statement: str, charset: str
) -> None:
    bridge = make_bridge()
    direct, target = direct_with_a_high_thread_id(mariadb)
    with closing(direct):
        thread, outcome = sleep_in_thread(direct, 2)
        time.sleep(0.3)
        flags = CLIENT.MULTI_STATEMENTS
        with closing(
            connect("pymysql", bridge, "nat", "nat-pw", "tcp", client_flag=flags, charset=charset)
        ) as c:
            with pytest.raises(pymysql.err.MySQLError) as caught:
                c.cursor().execute(statement.format(id=target))
            # refused (1235), or translated and found unknown (1094): never forwarded
            assert error_of(caught.value)[0] in (1094, 1235), statement
            assert scalar(c, "SELECT 1") == 1  # the session goes on
        thread.join(10)
        assert outcome == [0], statement  # the direct connection's SLEEP ran to its end
