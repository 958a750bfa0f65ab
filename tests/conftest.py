"""Shared test settings and the fixtures both the unit and the integration tests use.

The `mutation` Hypothesis profile (scripts/mutation selects it with
--hypothesis-profile=mutation) keeps property tests small and repeatable, so each of the
~1,500 mutants runs them in well under a second and gets the same examples every time.

Real servers, one fixture each: `certs`, `other_certs` and `slapd` here (tests/backends
uses them too); `mariadb`, `plain_mariadb`, `kdc`, `samba_dc`, `bridge` and `make_bridge` in
tests/integration/conftest.py. Their data: tests/ldapfix.py (the LDAP people),
tests/krbfix.py (the Kerberos principals), tests/adfix.py (the AD domain)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from bridge.mapping.hosts import client_host, parse_host

if TYPE_CHECKING:  # imported where used: mutation runs copy bridge/ and tests/, not sandbox/
    from sandbox.certs import CertSet
    from sandbox.ldap import Slapd
    from sandbox.redis import RedisServer

settings.register_profile(
    "mutation",
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# CI: the same examples every run (a hash of each test), so a submission lands or fails on
# its code, not on the examples drawn that day; every run elsewhere draws new ones, which
# is where property tests find what they find. The mutation profile (--hypothesis-profile,
# loaded after this file) replaces it.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _cold_host_caches() -> None:
    """parse_host and client_host are lru_cached: a test that meets a pattern another test
    parsed first would not run the parser. Clearing them makes each test run the code it
    names (mutation testing maps tests to the functions they run)."""
    parse_host.cache_clear()
    client_host.cache_clear()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    """A test CA and a server certificate for 127.0.0.1/localhost (MariaDB, slapd, the bridge)."""
    from sandbox.certs import make_certs

    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    """A second CA that signed nothing the servers present: for "wrong CA" cases."""
    from sandbox.certs import make_certs

    return make_certs(tmp_path_factory.mktemp("other-ca"))


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[Slapd]:
    """A real slapd with tests/ldapfix.py's people, one per test module (tests may add entries)."""
    from tests.ldapfix import start_slapd

    server = start_slapd(tmp_path_factory.mktemp("slapd"), certs)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A throwaway redis-server for the shared-state tests (tests that stop it make their own)."""
    from sandbox.redis import RedisServer

    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
