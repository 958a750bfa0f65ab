"""The mariadb CLI with --default-auth naming a plugin the greeting did not propose: its
plugin never got the greeting's nonce, sends an empty answer and waits for one. The bridge
switches it to its own method (before, it checked the empty answer: ERROR 1045, using
password: NO), whichever plugin the greeting proposes (server.default_auth_plugin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from tests.integration.harness import ACCOUNTS, Bridge, mariadb_cli, start_bridge

pytestmark = pytest.mark.integration

ROWS = {"mysql_native_password": ("nat", "nat-pw"), "caching_sha2_password": ("app", "app-pw"),
        "sha256_password": ("sha", "sha-pw")}  # fmt: skip


@pytest.fixture(scope="module")
def native_greeting(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
) -> Iterator[Bridge]:
    running = start_bridge(tmp_path_factory.mktemp("native-greeting"), mariadb, certs, ACCOUNTS,
                           server={"default_auth_plugin": "mysql_native_password"})  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(params=["caching_sha2_password", "mysql_native_password"])
def greeting_bridge(request: pytest.FixtureRequest) -> Bridge:
    name = "bridge" if request.param == "caching_sha2_password" else "native_greeting"
    running: Bridge = request.getfixturevalue(name)
    return running


@pytest.mark.parametrize("default_auth", list(ROWS))
@pytest.mark.parametrize("row", list(ROWS))
@pytest.mark.parametrize("transport", ["tls", "socket"])
def test_the_rows_method_named_by_default_auth(
    greeting_bridge: Bridge, row: str, default_auth: str, transport: str
) -> None:
    user, password = ROWS[row]
    done = mariadb_cli(greeting_bridge, user, password, f"--default-auth={default_auth}",
                       transport=transport)  # fmt: skip
    assert (done.stdout.strip(), done.stderr) == (f"{user}@%", "")
