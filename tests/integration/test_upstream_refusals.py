"""A real MariaDB refuses the bridge's own credentials for an account: locked upstream
(ERROR 4151), its password expired upstream, or a password the credentials file has wrong
(1045). The client gets 3169 each time (nothing it can fix); the bridge's log, and
`check --online`, say what the DBA is to do about that upstream error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

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

ACCOUNTS = [
    Account("fine", "fine-pw", "caching_sha2_password", upstream_password="up-fine"),
    Account("lockd", "lockd-pw", "caching_sha2_password", upstream_password="up-lockd"),
    Account("expd", "expd-pw", "mysql_native_password", upstream_password="up-expd"),
    Account("wrongpw", "wrongpw-pw", "caching_sha2_password", upstream_password="up-wrongpw"),
]
UNLOCK = "the upstream account is locked: unlock it upstream (ALTER USER ... ACCOUNT UNLOCK)"
EXPIRED = (
    "the upstream account's password has expired: set a new one upstream (ALTER USER ... "
    "IDENTIFIED BY ...) and in the upstream credentials file"
)
WRONG = "check the upstream credentials file: the upstream does not take its password"


@pytest.fixture(scope="module")
def upstream(plain_mariadb: MariaDB) -> MariaDB:
    create_upstream_accounts(plain_mariadb, ACCOUNTS)
    plain_mariadb.sql(
        "ALTER USER 'lockd'@'%' ACCOUNT LOCK;"
        "ALTER USER 'expd'@'%' PASSWORD EXPIRE;"
        "ALTER USER 'wrongpw'@'%' IDENTIFIED BY 'not-what-the-bridge-has'"
    )
    return plain_mariadb


@pytest.fixture(scope="module")
def bridge(
    upstream: MariaDB, certs: CertSet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bridge]:
    directory, port = tmp_path_factory.mktemp("refusals"), free_port()
    write_config(directory, port, upstream.port, certs, ACCOUNTS)
    running = run_bridge(directory, port, certs)
    yield running
    running.stop()


def refused(bridge: Bridge, user: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as caught:
        connect("pymysql", bridge, user, f"{user}-pw").close()
    return error_of(caught.value)


def warning_for(bridge: Bridge, user: str) -> str:
    prefix = f"upstream refused the bridge's credentials for account '{user}' ("
    lines = [line for line in bridge.log.splitlines() if prefix in line]
    assert len(lines) == 1, bridge.log
    return lines[0].split(prefix, 1)[1]


def test_a_locked_upstream_account_says_unlock_it_upstream(bridge: Bridge) -> None:
    errno, message = refused(bridge, "lockd")
    assert errno == 3169
    assert "refused the bridge's credentials for account 'lockd'" in message
    said = warning_for(bridge, "lockd")
    assert said.startswith(f"{UNLOCK}): upstream refused the login: 4151 "), said
    assert "credentials file" not in said.split("): ")[0]
    cli = mariadb_cli(bridge, "lockd", "lockd-pw")  # the same with the mariadb CLI
    assert cli.returncode == 1 and "ERROR 3169" in cli.stderr, cli.stderr


def test_an_expired_upstream_password_says_set_a_new_one(bridge: Bridge) -> None:
    errno, _ = refused(bridge, "expd")
    assert errno == 3169
    said = warning_for(bridge, "expd")
    # MariaDB lets the login in (sandbox mode: disconnect_on_expired_password is OFF) and
    # refuses its first statement, the bridge's CURRENT_USER() check, with 1820.
    assert said.startswith(f"{EXPIRED}): SELECT CURRENT_USER() failed: 1820 "), said


def test_a_wrong_password_points_at_the_credentials_file(bridge: Bridge) -> None:
    errno, _ = refused(bridge, "wrongpw")
    assert errno == 3169
    said = warning_for(bridge, "wrongpw")
    assert said.startswith(f"{WRONG}): upstream refused the login: 1045 "), said


def test_an_account_the_upstream_takes_is_served(bridge: Bridge) -> None:
    with closing(connect("pymysql", bridge, "fine", "fine-pw")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "fine@%"


def test_check_online_gives_the_same_hints(bridge: Bridge) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "check", "--online", "-c", str(bridge.config)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    errors = {line.split(": ")[2]: line for line in done.stderr.splitlines() if ": upstream login: " in line}  # fmt: skip
    assert set(errors) == {"lockd", "expd", "wrongpw"}, done.stderr
    assert errors["lockd"].endswith(f"({UNLOCK})"), errors["lockd"]
    assert errors["expd"].endswith(f"({EXPIRED})"), errors["expd"]
    assert errors["wrongpw"].endswith(f"({WRONG})"), errors["wrongpw"]
