"""The LDAP group cache on the state engine (state.backend redis): a user's groups, found
by one bridge, serve every bridge for `backends.ldap.group_cache_ttl` seconds.

The groups decide which proxied account a user gets, so a value must not be forgeable by
whoever can write to Redis: each is sealed (AES-256-GCM under a key derived from
`state.fast_auth_key_file`, info "ldap groups"), bound to the DN and to the LDAP settings
that found it (servers, bases, group search), and carries its own expiry inside the seal:
a forged, moved, stale or PERSISTed value is a miss. The key name is an HMAC of the DN.

LDAP's lookups run in its worker threads; this cache hands each get/put to the event
loop (where the engine's client lives) and waits at most the engine's timeouts. A failure
is a miss: the thread searches the directory itself."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bridge.config import LdapConfig
from bridge.state.engine import Engine, StateUnavailable
from bridge.state.fastauth import EXPIRY_BYTES, NONCE_BYTES, _joined, derive_key

log = logging.getLogger("bridge.state")
T = TypeVar("T")


def ldap_context(config: LdapConfig) -> bytes:
    """The settings a group list depends on: another directory or search does not reuse it."""
    fields = ("servers", "base_dn", "group_search_base", "group_search_filter",
              "group_search_attr", "groups_from", "nested_groups")  # fmt: skip
    return json.dumps([list(config.servers) if f == "servers" else getattr(config, f)
                       for f in fields]).encode()  # fmt: skip


class GroupSealer:
    """Seals a DN's groups with an expiry; names the key with an HMAC of the DN."""

    def __init__(self, secret: bytes, context: bytes) -> None:
        self._aead = AESGCM(derive_key(secret, b"ldap groups"))
        self._names = derive_key(secret, b"ldap groups name")
        self._context = context

    def __repr__(self) -> str:
        return "GroupSealer(...)"

    def _ad(self, dn: str) -> bytes:
        return _joined(self._context, dn.encode("utf-8", "surrogatepass"))

    def name(self, dn: str) -> str:
        return hmac.new(self._names, self._ad(dn), hashlib.sha256).hexdigest()

    def seal(self, dn: str, groups: tuple[str, ...], ttl: float) -> bytes:
        expiry = int((time.time() + ttl) * 1000).to_bytes(EXPIRY_BYTES, "big")
        nonce = os.urandom(NONCE_BYTES)
        text = expiry + json.dumps(list(groups)).encode()
        return nonce + self._aead.encrypt(nonce, text, self._ad(dn))

    def open(self, dn: str, sealed: bytes) -> tuple[str, ...] | None:
        """The groups, or None: not sealed by us for this DN, expired, or malformed."""
        try:
            text = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._ad(dn))
        except (InvalidTag, ValueError):
            return None
        if int.from_bytes(text[:EXPIRY_BYTES], "big") <= time.time() * 1000:
            return None
        try:
            groups = json.loads(text[EXPIRY_BYTES:])
        except ValueError:
            return None
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return None
        return tuple(groups)


class SharedGroupCache:
    def __init__(
        self, engine: Engine, ttl: float, loop: asyncio.AbstractEventLoop, sealer: GroupSealer
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.loop = loop
        self.sealer = sealer
        self._wait = engine.config.command_timeout + engine.config.connect_timeout + 0.5

    def _key(self, dn: str) -> str:
        return f"{self.engine.prefix}ldap:{self.sealer.name(dn)}"

    def get(self, dn: str) -> tuple[str, ...] | None:
        """From a worker thread: the cached groups of this DN (lowercased), or None."""
        key = self._key(dn)
        raw = self._on_loop(self._run(lambda c: c.get(key)))
        if not isinstance(raw, bytes):
            return None
        return self.sealer.open(dn, raw)

    def put(self, dn: str, groups: tuple[str, ...]) -> None:
        if self.ttl <= 0:
            return
        key, ttl_ms = self._key(dn), int(self.ttl * 1000)
        value = self.sealer.seal(dn, groups, self.ttl)
        self._on_loop(self._run(lambda c: c.set(key, value, px=ttl_ms)))

    async def _run(self, op: Any) -> Any:
        try:
            return await self.engine.run(op)
        except StateUnavailable:
            return None

    def _on_loop(self, call: Coroutine[Any, Any, T]) -> T | None:
        try:
            future = asyncio.run_coroutine_threadsafe(call, self.loop)
        except RuntimeError:  # the loop is closing
            call.close()
            return None
        try:
            return future.result(self._wait)
        except Exception:  # a timeout or a closed loop: a miss
            future.cancel()
            return None
