"""The provider's keys (bridge/oidc/keys.py): discovery, caching, refresh on an unknown kid
at most once per interval, cached keys kept through an outage, an outage when none is known."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.config import OidcProviderConfig
from bridge.errors import BackendUnavailable
from bridge.oidc.keys import KeySet, signing_keys
from bridge.oidc.tokens import TokenRefused
from tests.oidcfix import AUDIENCE, ISSUER, ec_jwk, jwks, public, rsa_jwk

K1, K2 = rsa_jwk("k1"), rsa_jwk("k2")
JWKS_URI = "https://idp.example.test/jwks"


class Provider:
    """A fake provider: documents by URL, a switch to take it down, a log of requests."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.up = True
        self.requests: list[str] = []
        self.issuer = ISSUER

    def __call__(self, url: str) -> Any:
        self.requests.append(url)
        if not self.up:
            raise OSError("connection refused")
        if url == ISSUER + "/.well-known/openid-configuration":
            return {"issuer": self.issuer, "jwks_uri": JWKS_URI}
        if url == JWKS_URI:
            return jwks(*self.keys)
        raise OSError(f"404 {url}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keyset(idp: Provider, clock: Clock, **extra: Any) -> KeySet:
    config = OidcProviderConfig.model_validate(
        {"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, **extra}
    )
    return KeySet(config, idp, clock)


async def test_discovery_then_cached() -> None:
    idp, clock = Provider(K1), Clock()
    keys = keyset(idp, clock)
    assert (await keys.key_for("k1", "RS256"))["n"] == K1["n"]
    assert (await keys.key_for("k1", "RS256"))["n"] == K1["n"]
    assert idp.requests == [ISSUER + "/.well-known/openid-configuration", JWKS_URI]


async def test_configured_jwks_uri_skips_discovery() -> None:
    idp, clock = Provider(K1), Clock()
    keys = keyset(idp, clock, jwks_uri=JWKS_URI, discovery=False)
    await keys.key_for("k1", "RS256")
    assert idp.requests == [JWKS_URI]


async def test_discovery_must_name_the_configured_issuer() -> None:
    idp, clock = Provider(K1), Clock()
    idp.issuer = "https://evil.example.test"
    with pytest.raises(BackendUnavailable, match="names issuer"):
        await keyset(idp, clock).key_for("k1", "RS256")


async def test_unknown_kid_refreshes_once_per_interval() -> None:
    idp, clock = Provider(K1), Clock()
    keys = keyset(idp, clock, jwks_refresh_interval=30)
    await keys.key_for("k1", "RS256")
    clock.now += 31
    for _ in range(50):  # a flood of made-up kids: one request, the first
        with pytest.raises(TokenRefused, match="unknown key id"):
            await keys.key_for("made-up", "RS256")
    assert idp.requests == [ISSUER + "/.well-known/openid-configuration", JWKS_URI, JWKS_URI]
    idp.keys = [K1, K2]  # the provider rotates
    with pytest.raises(TokenRefused):
        await keys.key_for("k2", "RS256")  # within the interval: not fetched yet
    clock.now += 31
    assert (await keys.key_for("k2", "RS256"))["n"] == K2["n"]
    assert len(idp.requests) == 4
    assert (await keys.key_for("k1", "RS256"))["n"] == K1["n"]  # the old key still works


async def test_an_old_cache_answers_at_once_and_refreshes_behind() -> None:
    idp, clock = Provider(K1), Clock()
    keys = keyset(idp, clock, jwks_cache_ttl=60)
    await keys.key_for("k1", "RS256")
    idp.keys = [K1, K2]
    clock.now += 61
    assert (await keys.key_for("k1", "RS256"))["kid"] == "k1"  # no wait for the provider
    assert keys._background is not None
    await keys._background
    assert set(keys.keys) == {"k1", "k2"} and keys.fetches == 2


async def test_provider_down_keeps_cached_keys() -> None:
    idp, clock = Provider(K1), Clock()
    keys = keyset(idp, clock, jwks_cache_ttl=60)
    await keys.key_for("k1", "RS256")
    idp.up = False
    clock.now += 3600  # stale: a refresh is tried, fails, the old keys stay
    assert (await keys.key_for("k1", "RS256"))["n"] == K1["n"]
    with pytest.raises(TokenRefused, match="unknown key id"):
        await keys.key_for("k2", "RS256")


async def test_provider_down_with_no_key_is_an_outage() -> None:
    idp, clock = Provider(K1), Clock()
    idp.up = False
    keys = keyset(idp, clock)
    with pytest.raises(BackendUnavailable, match="cannot fetch its keys"):
        await keys.key_for("k1", "RS256")
    with pytest.raises(BackendUnavailable, match="a moment ago"):  # rate limited: no request
        await keys.key_for("k1", "RS256")
    assert len(idp.requests) == 1
    idp.up = True
    clock.now += 61
    assert (await keys.key_for("k1", "RS256"))["kid"] == "k1"


async def test_no_kid_takes_the_only_fitting_key() -> None:
    idp, clock = Provider(K1, ec_jwk("e1")), Clock()
    keys = keyset(idp, clock)
    assert (await keys.key_for(None, "RS256"))["kid"] == "k1"
    idp.keys = [K1, K2]
    clock.now += 3601  # stale: fetched again
    assert await keys.refresh()
    with pytest.raises(TokenRefused):  # two RSA keys: which one is a guess, never made
        await keys.key_for(None, "RS256")


def test_only_public_signing_keys_are_kept() -> None:
    oct_key = {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}
    enc = {**public(K2), "use": "enc"}
    private = {**K1, "kid": "private"}
    kept = signing_keys({"keys": [public(K1), oct_key, enc, private, "junk"]})
    assert list(kept) == ["k1"]
    with pytest.raises(ValueError, match="not a JWKS"):
        signing_keys({"kid": "x"})
