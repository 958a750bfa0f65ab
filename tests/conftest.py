"""Shared test settings. The `mutation` Hypothesis profile (scripts/mutation selects it with
--hypothesis-profile=mutation) keeps property tests small and repeatable, so each of the
~1,500 mutants runs them in well under a second and gets the same examples every time."""

import pytest
from hypothesis import HealthCheck, settings

from bridge.mapping.hosts import client_host, parse_host

settings.register_profile(
    "mutation",
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _cold_host_caches() -> None:
    """parse_host and client_host are lru_cached: a test that meets a pattern another test
    parsed first would not run the parser. Clearing them makes each test run the code it
    names (mutation testing maps tests to the functions they run)."""
    parse_host.cache_clear()
    client_host.cache_clear()
