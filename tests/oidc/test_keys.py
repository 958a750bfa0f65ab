"""The provider's keys (bridge/oidc/keys.py): discovery, caching, refresh on an unknown kid
at most once per interval, cached keys kept through an outage, an outage when none is known."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bridge.config import OidcProviderConfig
from bridge.errors import BackendUnavailable
from bridge.oidc.keys import KeySet, https_fetcher, signing_keys
from bridge.oidc.tokens import TokenRefused
from sandbox.certs import CertSet
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


# --- a fetch belongs to the key set: cancelled logins, the rate limit, deadlines -------------


class Held(Provider):
    """A provider whose answers wait until the test lets them go (a slow provider)."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        super().__init__(*keys)
        self.go = threading.Event()

    def __call__(self, url: str) -> Any:
        if not self.go.wait(10):
            raise OSError("never let go")
        return super().__call__(url)


async def test_a_cancelled_login_does_not_lose_the_fetch() -> None:
    """A login waiting for rotated keys is cancelled (its connect_timeout): the fetch goes
    on, and its keys are there for the next login, with no second request."""
    idp, clock = Held(K1, K2), Clock()
    keys = keyset(idp, clock, jwks_uri=JWKS_URI, discovery=False)
    waiting = asyncio.ensure_future(keys.key_for("k2", "RS256"))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    idp.go.set()
    for _ in range(200):
        if keys.fetches:
            break
        await asyncio.sleep(0.01)
    assert (await keys.key_for("k2", "RS256"))["n"] == K2["n"]
    assert idp.requests == [JWKS_URI]


async def test_logins_share_one_fetch_and_the_interval_counts_from_its_end() -> None:
    idp, clock = Held(K1), Clock()
    keys = keyset(idp, clock, jwks_uri=JWKS_URI, discovery=False, jwks_refresh_interval=30)
    logins = [asyncio.ensure_future(keys.key_for("k1", "RS256")) for _ in range(5)]
    await asyncio.sleep(0.05)
    clock.now += 100  # the fetch took long
    idp.go.set()
    assert all(k["kid"] == "k1" for k in await asyncio.gather(*logins))
    assert idp.requests == [JWKS_URI] and keys.attempted_at == clock.now
    clock.now += 29
    with pytest.raises(TokenRefused):
        await keys.key_for("made-up", "RS256")  # 29 s after the fetch ended: no request
    assert len(idp.requests) == 1


async def test_a_hanging_provider_is_an_outage_within_the_deadline() -> None:
    idp = Held(K1)
    keys = keyset(idp, Clock(), jwks_uri=JWKS_URI, discovery=False, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=r"no answer within 0\.4 s"):
        await keys.key_for("k1", "RS256")
    assert time.monotonic() - started < 1.5
    idp.go.set()


async def test_an_unexpected_fetch_error_is_an_outage() -> None:
    def broken(url: str) -> Any:
        raise http.client.BadStatusLine("garbage")

    config = OidcProviderConfig.model_validate(
        {"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": JWKS_URI}
    )
    with pytest.raises(BackendUnavailable, match="cannot fetch its keys"):
        await KeySet(config, broken, Clock()).key_for("k1", "RS256")


# --- the HTTPS fetcher against a real TLS server on loopback ----------------------------------


def _serve(certs: CertSet, answer: Callable[[ssl.SSLSocket], None]) -> int:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    server = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        with server:
            conn, _ = server.accept()
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(65536)
                with contextlib.suppress(OSError):
                    answer(tls)

    threading.Thread(target=run, daemon=True).start()
    return int(server.getsockname()[1])


def _fetcher(certs: CertSet, port: int, timeout: float = 1.0) -> Callable[[str], Any]:
    config = OidcProviderConfig.model_validate({
        "name": "t", "issuer": f"https://127.0.0.1:{port}", "audience": "a",
        "jwks_uri": f"https://127.0.0.1:{port}/jwks", "ca": str(certs.ca), "timeout": timeout,
    })  # fmt: skip
    return https_fetcher(config)


def test_fetcher_reads_a_document(certs: CertSet) -> None:
    body = json.dumps(jwks(K1)).encode()
    port = _serve(certs, lambda tls: tls.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)))  # fmt: skip
    assert _fetcher(certs, port)(f"https://127.0.0.1:{port}/jwks") == jwks(K1)


def test_fetcher_has_a_total_deadline(certs: CertSet) -> None:
    """A byte every 0.3 s never trips the per-read timeout (1 s); the deadline does."""

    def drip(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
        for byte in b'{"keys": []}' + b" " * 28:
            tls.sendall(bytes([byte]))
            time.sleep(0.3)

    port = _serve(certs, drip)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="not read within the timeout"):
        _fetcher(certs, port)(f"https://127.0.0.1:{port}/jwks")
    assert time.monotonic() - started < 2.5  # 12 s if each read had its own timeout


def test_fetcher_turns_a_bad_response_into_oserror(certs: CertSet) -> None:
    port = _serve(certs, lambda tls: tls.sendall(b"NOT HTTP AT ALL\r\n\r\n"))
    with pytest.raises(OSError, match="bad HTTP response"):
        _fetcher(certs, port)(f"https://127.0.0.1:{port}/jwks")
    short = _serve(certs, lambda tls: tls.sendall(
        b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"keys"'))  # fmt: skip
    with pytest.raises(OSError, match="bad HTTP response"):
        _fetcher(certs, short)(f"https://127.0.0.1:{short}/jwks")


# --- cached keys are not trusted for ever --------------------------------------------------


async def test_cached_keys_expire_after_jwks_max_stale() -> None:
    """Through an outage the cached keys serve for jwks_max_stale, then it is an outage
    (a key revoked meanwhile must not verify for ever); back up, they are fetched again."""
    idp, clock = Provider(K1), Clock()
    keys = keyset(idp, clock, jwks_cache_ttl=600, jwks_max_stale=3600)
    await keys.key_for("k1", "RS256")
    idp.up = False
    clock.now += 3000
    assert (await keys.key_for("k1", "RS256"))["kid"] == "k1"  # stale, still within
    assert keys.age() == 3000
    clock.now += 700
    with pytest.raises(BackendUnavailable, match="over jwks_max_stale"):
        await keys.key_for("k1", "RS256")
    idp.up = True
    clock.now += 61  # past the refresh interval
    assert (await keys.key_for("k1", "RS256"))["kid"] == "k1"
    assert keys.age() == 0


def test_jwks_max_stale_is_at_least_the_cache_ttl() -> None:
    with pytest.raises(ValueError, match="jwks_max_stale must be at least jwks_cache_ttl"):
        OidcProviderConfig.model_validate({"name": "corp", "issuer": ISSUER, "audience": AUDIENCE,
                                           "jwks_cache_ttl": 7200, "jwks_max_stale": 3600})  # fmt: skip
