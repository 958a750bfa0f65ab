"""Real servers for the integration tests. A missing component fails the run (never a skip):
`.ci/run` and `make test` install everything first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.certs import CertSet
from sandbox.kdc import Kdc
from sandbox.mariadb import MariaDB
from sandbox.samba import SambaDC
from tests.adfix import AD_GROUPS, AD_USERS
from tests.integration.harness import (
    ACCOUNTS,
    Account,
    Bridge,
    MakeBridge,
    create_upstream_accounts,
    start_bridge,
)
from tests.krbfix import PRINCIPALS


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[MariaDB]:
    server = MariaDB.start(tmp_path_factory.mktemp("mariadb"), certs, performance_schema=True)
    create_upstream_accounts(server, ACCOUNTS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A MariaDB with no TLS at all and no accounts, one per test module."""
    server = MariaDB.start(tmp_path_factory.mktemp("plain-mariadb"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kdc]:
    """An MIT KDC for EXAMPLE.TEST with tests/krbfix.py's principals, one per test module."""
    server = Kdc.start(tmp_path_factory.mktemp("kdc"), PRINCIPALS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """A Samba AD domain controller, provisioned once per session (about 5 s)."""
    dc = SambaDC.start(tmp_path_factory.mktemp("samba-dc"), AD_USERS, AD_GROUPS)
    yield dc
    dc.stop()


@pytest.fixture(scope="session")
def bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
) -> Iterator[Bridge]:
    """The shared bridge: tests that change its config or state use `make_bridge`."""
    running = start_bridge(tmp_path_factory.mktemp("bridge"), mariadb, certs)
    yield running
    running.stop()


@pytest.fixture
def make_bridge(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> Iterator[MakeBridge]:
    started: list[Bridge] = []

    def make(accounts: list[Account] | None = None, env: dict[str, str] | None = None,
             upstream_only: dict[str, str] | None = None,
             proxy_grants: list[dict[str, Any]] | None = None, **sections: Any) -> Bridge:  # fmt: skip
        directory = tmp_path / f"bridge{len(started)}"
        running = start_bridge(directory, mariadb, certs, accounts, env, upstream_only,
                               proxy_grants, **sections)  # fmt: skip
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()
