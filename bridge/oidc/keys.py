"""A provider's signing keys (its JWKS): fetched over HTTPS off the event loop, cached,
refreshed when they are old or when a token names a key id the cache does not know, and
never more often than once per `jwks_refresh_interval` (so a flood of tokens with made-up
key ids cannot turn into a flood of requests to the provider).

A provider that cannot be reached leaves the cached keys in use. With no key known at all,
it is an outage (BackendUnavailable), not a wrong password.

A fetch is a task the key set owns, not the login that asked for it: logins wait for it
shielded, so one cancelled (its connect_timeout) neither cancels the fetch nor loses what
it brings, and the rate limit counts from when a fetch finished. Each HTTPS request has a
total deadline (`timeout`), and a whole refresh at most two of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.budget import OIDC_REQUESTS_PER_REFRESH as REQUESTS_PER_REFRESH
from bridge.config import OidcProviderConfig
from bridge.errors import BackendUnavailable
from bridge.oidc.tokens import TokenRefused, key_fits

log = logging.getLogger("bridge.oidc")

MAX_DOCUMENT = 1 << 20  # a discovery document or a JWKS larger than 1 MiB is refused
READ_CHUNK = 16384
WELL_KNOWN = "/.well-known/openid-configuration"
SIGNING_KEY_TYPES = ("RSA", "EC", "OKP")  # never "oct": a shared secret is no public key

Fetch = Callable[[str], Any]  # URL -> the JSON document; raises OSError / ValueError


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead off HTTPS or to another host: the URL must be the right one."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        raise urllib.error.URLError("redirect refused: configure the final URL")


def https_fetcher(provider: OidcProviderConfig) -> Fetch:
    """GET a JSON document over HTTPS with the provider's CA (or the system's), no
    redirects, no proxy from the environment, bounded in size and time."""
    context = ssl.create_default_context(cafile=str(provider.ca) if provider.ca else None)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context), _NoRedirect
    )

    def fetch(url: str) -> Any:
        if not url.startswith("https://"):
            raise ValueError(f"{url!r} is not an https:// URL")
        deadline = time.monotonic() + provider.timeout
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with opener.open(request, timeout=provider.timeout) as response:
                body = _read_body(response, url, deadline)
        except http.client.HTTPException as exc:  # a bad status line, a truncated body
            raise OSError(f"{url}: bad HTTP response ({type(exc).__name__})") from None
        except urllib.error.URLError as exc:  # '<urlopen error [Errno 111] ...>': in words
            raise OSError(f"{url}: {url_error(exc, provider.timeout)}") from None
        return json.loads(body)

    return fetch


def url_error(exc: urllib.error.URLError, timeout: float) -> str:
    """Why a request to the provider failed, in words a DBA can act on (the texts hold the
    URL and the server's words, never a token)."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = exc.reason
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (f"TLS certificate verify failed ({reason.verify_message}): check the "
                "provider's ca and the issuer's host name")  # fmt: skip
    if isinstance(reason, ssl.SSLError):
        return f"TLS handshake failed ({reason.reason or reason})".lower()
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror[:1].lower() + reason.strerror[1:]
    return str(reason)


def _read_body(response: Any, url: str, deadline: float) -> bytes:
    """The body in chunks, at most MAX_DOCUMENT bytes, by the deadline: a provider that
    drips a byte at a time cannot stretch the socket's per-read timeout into minutes."""
    body = bytearray()
    while chunk := response.read1(READ_CHUNK):
        body += chunk
        if len(body) > MAX_DOCUMENT:
            raise ValueError(f"{url}: document over {MAX_DOCUMENT} bytes")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: not read within the timeout")
    if getattr(response, "length", None):  # Content-Length said more than came
        raise OSError(f"{url}: bad HTTP response (the body ended early)")
    return bytes(body)


def signing_keys(document: Any) -> dict[str, dict[str, Any]]:
    """kid -> JWK for the public signing keys of a JWKS document. Keys without a kid are
    kept under '' (a set with a single key may omit it)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str, dict[str, Any]] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") not in SIGNING_KEY_TYPES:
            continue
        if jwk.get("use", "sig") != "sig" or "d" in jwk:  # encryption keys; private keys
            continue
        kid = jwk.get("kid", "")
        if isinstance(kid, str):
            keys[kid] = jwk
    return keys


@dataclass
class KeySet:
    provider: OidcProviderConfig
    fetch: Fetch
    clock: Callable[[], float] = time.monotonic
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None  # last successful fetch
    attempted_at: float | None = None  # when the last fetch finished, successful or not
    fetches: int = 0  # successful fetches, for tests and the logs
    jwks_uri: str | None = None  # from discovery, once known
    _fetching: asyncio.Task[str | None] | None = None  # the fetch under way
    _background: asyncio.Task[None] | None = None

    async def key_for(self, kid: str | None, alg: str) -> dict[str, Any]:
        """The JWK that should have signed a token with this header. A cached key answers
        at once (an old cache is refreshed in the background); a kid the cache does not
        know waits for a refresh (rate limited)."""
        found = self._find(kid, alg)
        if found is not None and self.too_old():  # the provider unreachable for too long
            await self.refresh()
            self.refuse_if_too_old()
            found = self._find(kid, alg)
        if found is not None:
            if self._stale():
                self._refresh_in_background()
            return found
        await self.refresh()
        found = self._find(kid, alg)
        if found is None:
            raise TokenRefused(f"unknown key id {kid!r} for {alg} (not in the provider's JWKS)")
        return found

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._quiet_refresh())

    async def _quiet_refresh(self) -> None:
        with contextlib.suppress(BackendUnavailable):  # refresh() logged it, keeps the keys
            await self.refresh()

    def age(self) -> float | None:
        """Seconds since the keys were last fetched; None before the first fetch."""
        return None if self.fetched_at is None else self.clock() - self.fetched_at

    def too_old(self) -> bool:
        age = self.age()
        return age is not None and age > self.provider.jwks_max_stale

    def refuse_if_too_old(self) -> None:
        """Cached keys are trusted through an outage for jwks_max_stale, not for ever: a
        key the provider revoked meanwhile would still verify tokens."""
        age = self.age()
        if age is not None and age > self.provider.jwks_max_stale:
            raise BackendUnavailable(
                f"OpenID provider {self.provider.name}: its keys were last fetched {age:.0f} s "
                f"ago, over jwks_max_stale ({self.provider.jwks_max_stale:g} s)"
            )

    def _stale(self) -> bool:
        return self.fetched_at is None or (
            self.clock() - self.fetched_at > self.provider.jwks_cache_ttl
        )

    def _find(self, kid: str | None, alg: str) -> dict[str, Any] | None:
        if kid is not None:
            jwk = self.keys.get(kid)
            return jwk if jwk is not None and key_fits(jwk, alg) else None
        fitting = [k for k in self.keys.values() if key_fits(k, alg)]
        return fitting[0] if len(fitting) == 1 else None  # no kid: only an unambiguous key

    async def refresh(self) -> bool:
        """Fetch the keys unless a fetch finished less than jwks_refresh_interval ago (True
        if they were fetched now). One fetch at a time, which every caller shares; a
        failure keeps the keys already known (and says so in the log), and is an outage
        only when no key is known."""
        task = self._fetching
        if task is None:
            recent = self.attempted_at is not None and (
                self.clock() - self.attempted_at < self.provider.jwks_refresh_interval
            )
            if recent:
                self._outage_if_empty("its keys could not be fetched a moment ago")
                return False
            task = self._fetching = asyncio.get_running_loop().create_task(self._fetch_task())
        error = await asyncio.shield(task)  # a cancelled login leaves the fetch running
        if error is not None:
            self._outage_if_empty(f"cannot fetch its keys: {error}")
            return False
        return True

    async def _fetch_task(self) -> str | None:
        """The fetch, owned by the key set: its keys stored whenever it finishes; None, or
        why it failed."""
        deadline = self.provider.timeout * REQUESTS_PER_REFRESH
        try:
            keys = await asyncio.wait_for(asyncio.to_thread(self._fetch_keys), deadline)
        except Exception as exc:  # URLError, TLS, timeouts, bad documents; and
            # anything else a fetcher raises: nobody may be waiting, so it ends here
            timeout = isinstance(exc, TimeoutError) and not str(exc)
            reason = f"no answer within {deadline:g} s" if timeout else str(exc) or repr(exc)
            name = self.provider.name
            log.warning("OpenID provider %s: cannot fetch its keys: %s%s", name, reason,
                        "; keeping the cached keys" if self.keys else "")  # fmt: skip
            return reason
        else:
            self._replace(keys, self.clock())
            return None
        finally:
            self.attempted_at, self._fetching = self.clock(), None

    def _replace(self, keys: dict[str, dict[str, Any]], now: float) -> None:
        added = sorted(set(keys) - set(self.keys))
        if self.keys and added:
            log.info("OpenID provider %s: new signing keys %s", self.provider.name, added)
        self.keys, self.fetched_at = keys, now
        self.fetches += 1

    def _outage_if_empty(self, why: str) -> None:
        if not self.keys:
            raise BackendUnavailable(f"OpenID provider {self.provider.name}: {why}")

    def _fetch_keys(self) -> dict[str, dict[str, Any]]:
        """In a worker thread: discovery (once), then the JWKS."""
        uri = self.provider.jwks_uri or self.jwks_uri or self._discover()
        keys = signing_keys(self.fetch(uri))
        if not keys:
            raise ValueError(f"{uri}: no public signing key in the JWKS")
        return keys

    def _discover(self) -> str:
        url = self.provider.issuer.rstrip("/") + WELL_KNOWN
        document = self.fetch(url)
        if not isinstance(document, dict):
            raise ValueError(f"{url}: not a discovery document")
        # OpenID Connect Discovery 4.3: the issuer in the document is the one configured.
        if document.get("issuer") != self.provider.issuer:
            raise ValueError(f"{url}: names issuer {str(document.get('issuer'))[:100]!r}, "
                             f"not {self.provider.issuer!r}")  # fmt: skip
        uri = document.get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith("https://"):
            raise ValueError(f"{url}: no https jwks_uri")
        self.jwks_uri = uri
        return uri
