"""The upstream account the bridge gets is the one it meant, against a real MariaDB that has
the anonymous ''@'localhost' mariadb-install-db creates (the sandbox's install drops it,
so the tests create it): `check --online` says so with the file and line of the
credentials entry, and a running bridge refuses (3169) rather than serve the anonymous
account, logs the cause once, and serves the account once the upstream is fixed.

Own MariaDB (plain_mariadb, one per module): the anonymous account would shadow every
'x'@'%' of the shared one for logins from localhost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from sandbox.bridgeproc import run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from tests.integration.harness import (
    Account,
    Bridge,
    closing,
    connect,
    create_upstream_accounts,
    error_of,
    mariadb_cli,
    scalar,
)

pytestmark = pytest.mark.integration

# 'np' has an empty upstream password, as the anonymous row has: MariaDB takes the more
# specific ''@'localhost' for a login as np from 127.0.0.1 (which it names localhost).
# 'app' has a row of its own for localhost too (else the anonymous row would refuse its
# password: 1045), so its CURRENT_USER() is app@localhost: the same account.
ACCOUNTS = [
    Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app"),
    Account("np", "np-pw", "caching_sha2_password", upstream_password=""),
]
ANONYMOUS = "''@'localhost'"


@pytest.fixture(scope="module")
def upstream(plain_mariadb: MariaDB) -> MariaDB:
    create_upstream_accounts(plain_mariadb, ACCOUNTS)
    plain_mariadb.sql("CREATE USER 'app'@'localhost' IDENTIFIED BY 'up-app'")
    return plain_mariadb


@pytest.fixture
def anonymous(upstream: MariaDB) -> Iterator[MariaDB]:
    upstream.sql(f"CREATE USER {ANONYMOUS}")
    assert upstream.sql("SELECT COUNT(*) FROM mysql.user WHERE user = ''") == "1"
    yield upstream
    upstream.sql(f"DROP USER IF EXISTS {ANONYMOUS}")


def check_online(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "check", "--online", "-c", str(config)],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))  # fmt: skip


def test_check_online_names_the_account_mariadb_chose(
    tmp_path: Path, anonymous: MariaDB, certs: CertSet
) -> None:
    config = write_config(tmp_path, free_port(), anonymous.port, certs, ACCOUNTS)
    done = check_online(config)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    creds = tmp_path / "upstream-credentials.yaml"
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: {creds}:3: np: upstream login: the upstream logged "
                                f"the bridge in as {ANONYMOUS}, not as 'np' (CURRENT_USER())")  # fmt: skip
    assert "mariadb-install-db creates ''@'localhost'" in errors[0]
    assert f"DROP USER {ANONYMOUS}" in errors[0]
    assert f"ok: upstream login as 'app' to 127.0.0.1:{anonymous.port}" in done.stdout
    assert "ok: upstream login as 'np'" not in done.stdout
    assert f"{config}: 1 error(s)" in done.stderr

    anonymous.sql(f"DROP USER {ANONYMOUS}")  # the fix the message names
    done = check_online(config)
    assert done.returncode == 0, done.stderr
    assert "ok: upstream login as 'np'" in done.stdout


@pytest.fixture
def np_bridge(tmp_path: Path, upstream: MariaDB, certs: CertSet) -> Iterator[Bridge]:
    port = free_port()
    write_config(tmp_path, port, upstream.port, certs, ACCOUNTS, log={"level": "debug"})
    running = run_bridge(tmp_path, port, certs)
    yield running
    running.stop()


def refused(user: str, password: str, bridge: Bridge) -> int:
    with pytest.raises(pymysql.MySQLError) as caught:
        connect("pymysql", bridge, user, password).close()
    return error_of(caught.value)[0]


def wrong_account_errors(bridge: Bridge) -> list[str]:
    return [line for line in bridge.log.splitlines()
            if "ERROR" in line and "upstream account 'np'" in line]  # fmt: skip


def test_a_login_that_would_get_the_anonymous_account_is_refused(
    np_bridge: Bridge, anonymous: MariaDB
) -> None:
    bridge = np_bridge
    assert refused("np", "np-pw", bridge) == 3169
    assert refused("np", "np-pw", bridge) == 3169  # asked again, refused again
    cli = mariadb_cli(bridge, "np", "np-pw")
    assert cli.returncode == 1 and "ERROR 3169" in cli.stderr, cli.stderr
    errors = wrong_account_errors(bridge)
    assert len(errors) == 1, bridge.log  # the cause, once
    assert f"logged the bridge in as {ANONYMOUS}, not as 'np'" in errors[0]
    assert "refused (ERROR 3169)" in errors[0]
    with closing(connect("pymysql", bridge, "app", "app-pw")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "app@localhost"  # itself: served

    anonymous.sql(f"DROP USER {ANONYMOUS}")  # fixed upstream: no reload needed
    with closing(connect("pymysql", bridge, "np", "np-pw")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "np@%"


def test_the_pools_check_finds_an_account_that_became_another(
    np_bridge: Bridge, upstream: MariaDB
) -> None:
    """np was confirmed on its first login; the anonymous account appears later. The kept
    connection's COM_CHANGE_USER gives the next client ''@'localhost' (that session cannot
    be undone); its give-back check sees it: the ERROR is logged and the logins after it
    are refused."""
    bridge = np_bridge
    with closing(connect("pymysql", bridge, "np", "np-pw")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "np@%"
    bridge.wait_log("kept for np")
    upstream.sql(f"CREATE USER {ANONYMOUS}")
    try:
        with closing(connect("pymysql", bridge, "np", "np-pw")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "@localhost"  # the pool's reuse
        bridge.wait_log("upstream account 'np'")
        assert len(wrong_account_errors(bridge)) == 1
        assert refused("np", "np-pw", bridge) == 3169
    finally:
        upstream.sql(f"DROP USER IF EXISTS {ANONYMOUS}")


def test_change_user_to_an_account_that_is_another_ends_the_session(
    np_bridge: Bridge, anonymous: MariaDB
) -> None:
    """COM_CHANGE_USER has already made the upstream session ''@'localhost' when the answer
    comes: the client gets 3169 and the session ends, as for a failed init_sql."""
    import MySQLdb

    with closing(connect("mysqlclient", np_bridge, "app", "app-pw", "tcp")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "app@localhost"
        with pytest.raises(MySQLdb.OperationalError) as caught:
            conn.change_user("np", "np-pw")
        assert error_of(caught.value)[0] == 3169
        with pytest.raises(MySQLdb.OperationalError):
            scalar(conn, "SELECT CURRENT_USER()")  # no session as anyone
    assert len(wrong_account_errors(np_bridge)) == 1
