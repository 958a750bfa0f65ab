"""Account matching as mysqld does it, attacked by the name a client sends: every name an
upstream account can have reaches its row, and nothing else does."""

from __future__ import annotations

import pymysql
import pytest

from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    Account,
    MakeBridge,
    closing,
    connect,
    create_upstream_accounts,
    error_of,
    mariadb_cli,
    scalar,
)

pytestmark = pytest.mark.integration


def test_the_longest_name_mariadb_allows_logs_in_and_one_more_is_refused(
    make_bridge: MakeBridge, mariadb: MariaDB
) -> None:
    """MariaDB 10.6 and later allow user names of 128 characters (MDEV-24312; 80 before):
    such an account is an account row like any other; a longer name matches nothing and is
    refused as a wrong password (1045), as MariaDB refuses it."""
    longest = "l" * 120 + "-" + "é" * 7  # 128 characters, 135 bytes
    account = Account(longest, "long-pw", "mysql_native_password", upstream_password="up-long")
    create_upstream_accounts(mariadb, [account])
    bridge = make_bridge(accounts=[account])
    for client in ("pymysql", "mysqlclient"):
        with closing(connect(client, bridge, longest, "long-pw", "tls")) as c:
            assert scalar(c, "SELECT CURRENT_USER()") == f"{longest}@%"
    done = mariadb_cli(bridge, longest, "long-pw")
    assert done.returncode == 0 and f"{longest}@%" in done.stdout, done.stderr
    with pytest.raises(pymysql.err.OperationalError) as err:
        connect("pymysql", bridge, longest + "x", "long-pw", "tls")
    assert error_of(err.value)[0] == 1045
    assert "reason=user name longer than 128 characters" in bridge.log
