"""The state parts of one process, built from the config (bridge/state/__init__.py says
what each is). The server calls `start()` once its event loop runs, `attach()` on every
runtime (a reload makes new backends), `close()` at the end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bridge.backends.ldap import LdapBackend
from bridge.config import BridgeConfig, StateConfig
from bridge.registry import ConnectionIds, Entry, LocalRegistry, SessionRegistry, SharedMemory
from bridge.state.engine import Engine, StateUnavailable
from bridge.state.fastauth import FastAuthCache, MemoryFastAuth, RedisFastAuth, read_key_file
from bridge.state.groups import GroupSealer, SharedGroupCache, ldap_context
from bridge.state.keycheck import KeyCheck
from bridge.state.registry import HEARTBEAT, RedisRegistry, SlotIds
from bridge.state.throttle import MemoryThrottle, RedisThrottle, ThrottleState

if TYPE_CHECKING:
    from bridge.runtime import Runtime

log = logging.getLogger("bridge.state")


class Ids(Protocol):
    def take(self, in_use: Container[int]) -> int: ...


@dataclass
class State:
    config: StateConfig
    throttle: ThrottleState
    fast_auth: FastAuthCache
    registry: SessionRegistry
    ids: Ids
    engine: Engine | None = None
    secret: bytes | None = field(default=None, repr=False)  # the key file's, for sealing
    keycheck: KeyCheck | None = None  # is the key file the other bridges' one?
    _heartbeat: asyncio.Task[None] | None = field(default=None, repr=False)
    _keys_heartbeat: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Claim an instance slot and keep it; if the engine is down now, say so and go on
        (the heartbeat claims one when it answers)."""
        if not isinstance(self.registry, RedisRegistry):
            return
        assert self.engine is not None
        if not await self.registry.claim():
            log.warning("state engine %s not reachable at start: logins go on (full "
                        "authentication, throttling per state.throttle_when_down); KILL "
                        "finds sessions of this process only until it answers",
                        ", ".join(self.engine.urls))  # fmt: skip
        self._heartbeat = asyncio.get_running_loop().create_task(self.registry.heartbeat())
        if self.keycheck is not None:
            self._keys_heartbeat = asyncio.get_running_loop().create_task(self._announce_key())

    async def _announce_key(self) -> None:
        assert self.keycheck is not None
        while True:
            with contextlib.suppress(StateUnavailable):  # down: said by the engine already
                await self.keycheck.announce()
            await asyncio.sleep(HEARTBEAT)

    def attach(self, runtime: Runtime) -> None:
        """Give this runtime's store and LDAP backend the shared caches."""
        runtime.store.fast_cache = self.fast_auth
        ldap = runtime.backends.get("ldap")
        if self.engine is None or self.secret is None or not isinstance(ldap, LdapBackend):
            return  # no key file: the groups stay in this process's memory (unsealed)
        ttl = ldap.config.group_cache_ttl
        if ttl > 0 and not isinstance(ldap.cache, SharedGroupCache):
            sealer = GroupSealer(self.secret, ldap_context(ldap.config))
            ldap.cache = SharedGroupCache(self.engine, ttl, asyncio.get_running_loop(), sealer)

    @property
    def probe(self) -> Callable[[], Awaitable[None]] | None:
        """The health probe of the state engine (a PING, within the engine's backoff: a
        server known to be down is not asked again before its time); None for memory."""
        engine = self.engine
        if engine is None:
            return None

        keycheck = self.keycheck

        async def ping() -> None:
            await engine.run(lambda client: client.ping())
            if keycheck is not None and keycheck.others:
                raise StateUnavailable(f"{engine.where}: {keycheck.problem()}")

        return ping

    async def remote_session(self, bridge_id: int) -> Entry | None:
        """KILL of a session another instance or worker holds: its entry."""
        if isinstance(self.registry, RedisRegistry):
            return await self.registry.remote_find(bridge_id)
        return None

    async def close(self) -> None:
        for task in (self._heartbeat, self._keys_heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if isinstance(self.registry, RedisRegistry):
            await self.registry.release()
        if self.keycheck is not None:
            with contextlib.suppress(StateUnavailable):
                await self.keycheck.withdraw()
        if self.engine is not None:
            await self.engine.close()

    @property
    def metrics(self) -> dict[str, Any]:
        engine = self.engine
        return {"up": 1.0 if engine is None or engine.up else 0.0,
                "errors": float(engine.errors if engine else 0)}  # fmt: skip


def build_state(
    config: BridgeConfig, worker: int | None = None, shared: SharedMemory | None = None
) -> State:
    """The state parts for this process. Memory: today's in-process throttle and cache, and
    the workers' shared-memory registry when there is one."""
    state = config.state
    if state.backend == "memory":
        registry: SessionRegistry = LocalRegistry()
        ids: Ids = ConnectionIds()
        if shared is not None and worker is not None:
            registry, ids = shared.for_worker(worker), ConnectionIds(worker, shared.workers)
        return State(state, MemoryThrottle(config.protection), MemoryFastAuth(), registry, ids)
    assert state.fast_auth_key_file is not None  # the config requires it with redis
    secret = read_key_file(state.fast_auth_key_file)
    engine = Engine(state)
    workers = shared.workers if shared is not None else 1
    slot_ids = SlotIds(worker or 0, workers)
    return State(
        state,
        RedisThrottle(config.protection, engine, state.throttle_when_down, secret),
        RedisFastAuth(engine, secret, state.fast_auth_ttl),
        RedisRegistry(engine, slot_ids, secret),
        slot_ids,
        engine,
        secret,
        KeyCheck(engine, secret),
    )
