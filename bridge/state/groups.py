"""The LDAP group cache on the state engine (state.backend redis): a user's groups, found
by one bridge, serve every bridge for `backends.ldap.group_cache_ttl` seconds.

LDAP's lookups run in its worker threads; this cache hands each get/put to the event
loop (where the engine's client lives) and waits at most the engine's timeouts. A failure
is a miss: the thread searches the directory itself. Keys are hashes of the DN; values are
the group names (no secret)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from bridge.state.engine import Engine, StateUnavailable

log = logging.getLogger("bridge.state")
T = TypeVar("T")


class SharedGroupCache:
    def __init__(self, engine: Engine, ttl: float, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.ttl = ttl
        self.loop = loop
        self._wait = engine.config.command_timeout + engine.config.connect_timeout + 0.5

    def _key(self, dn: str) -> str:
        return f"{self.engine.prefix}ldap:{hashlib.sha256(dn.encode()).hexdigest()}"

    def get(self, dn: str) -> tuple[str, ...] | None:
        """From a worker thread: the cached groups of this DN (lowercased), or None."""
        key = self._key(dn)
        raw = self._on_loop(self._run(lambda c: c.get(key)))
        if not isinstance(raw, bytes):
            return None
        try:
            groups = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return None
        return tuple(groups)

    def put(self, dn: str, groups: tuple[str, ...]) -> None:
        if self.ttl <= 0:
            return
        key, value, ttl_ms = self._key(dn), json.dumps(list(groups)), int(self.ttl * 1000)
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
