"""What a writer to Redis must not be able to do (the security review of the shared state),
against a real redis-server: forge LDAP groups, get parallel guesses past a lock, crash a
KILL with a bad registry value."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import redis.asyncio

from bridge.config import LdapConfig, ProtectionConfig
from bridge.state.engine import Engine
from bridge.state.groups import GroupSealer, SharedGroupCache, ldap_context
from bridge.state.registry import SLOT_TTL_MS, RedisRegistry, SlotIds
from bridge.state.throttle import MemoryThrottle, RedisThrottle
from sandbox.redis import RedisServer
from tests.state.test_redis_state import state_config

DN = "uid=alice,ou=people,dc=example,dc=com"


def ldap_config(**extra: object) -> LdapConfig:
    return LdapConfig.model_validate({"servers": ["ldap://127.0.0.1:1"], **extra})


async def test_ldap_groups_are_sealed_bound_to_the_dn_and_expire(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = state_config(tmp_path, redis_server.url)
    engine = Engine(config)
    secret = os.urandom(32)
    sealer = GroupSealer(secret, ldap_context(ldap_config()))
    cache = SharedGroupCache(engine, 60, asyncio.get_running_loop(), sealer)
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    key = f"{engine.prefix}ldap:{sealer.name(DN)}"
    assert DN not in key

    await asyncio.to_thread(cache.put, DN, ("developers",))
    assert await asyncio.to_thread(cache.get, DN) == ("developers",)
    stored = await raw.get(key)
    assert isinstance(stored, bytes) and b"developers" not in stored
    assert 0 < await raw.pttl(key) <= 60_000

    await raw.set(key, json.dumps(["dba"]))  # the review's forgery: plain JSON, no TTL
    assert await asyncio.to_thread(cache.get, DN) is None
    await raw.set(key, sealer.seal("uid=bob,ou=people,dc=example,dc=com", ("dba",), 60))
    assert await asyncio.to_thread(cache.get, DN) is None  # another DN's value
    await raw.set(key, sealer.seal(DN, ("dba",), -1))  # expired inside, kept by PERSIST
    assert await asyncio.to_thread(cache.get, DN) is None
    other = GroupSealer(secret, ldap_context(ldap_config(base_dn="dc=other")))
    await raw.set(key, other.seal(DN, ("dba",), 60))  # other LDAP settings
    assert await asyncio.to_thread(cache.get, DN) is None
    foreign = GroupSealer(os.urandom(32), ldap_context(ldap_config()))
    await raw.set(key, foreign.seal(DN, ("dba",), 60))  # another key file
    assert await asyncio.to_thread(cache.get, DN) is None
    assert "secret" not in repr(sealer) and repr(secret) not in repr(sealer)
    await raw.aclose()
    await engine.close()


async def test_parallel_guesses_do_not_get_past_the_lock(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Four guesses pass the check together; three fail and set the lock; the fourth
    (the right password) is refused after its exchange, as the memory throttle does."""
    for lock_by in ("account", "account_and_address"):
        cfg = ProtectionConfig.model_validate(
            {"failed_login_attempts": 3, "lock_time": 60, "lock_by": lock_by}
        )
        engine = Engine(state_config(tmp_path, redis_server.url))
        for throttle in (RedisThrottle(cfg, engine, "known_locks"), MemoryThrottle(cfg)):
            checks = await asyncio.gather(*(throttle.check("dave", "10.0.0.9") for _ in range(4)))
            assert all(lock is None for lock, _ in checks)
            for _ in range(3):
                await throttle.failure("dave", "10.0.0.9")
            lock = await throttle.locked("dave", "10.0.0.9", ())
            assert lock is not None and 59 < lock[0] <= 60 and lock[1] == 3, (throttle, lock_by)
        await engine.close()


async def test_kill_registry_expires_checks_the_slot_and_validates_values(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = state_config(tmp_path, redis_server.url)
    a = RedisRegistry(Engine(config), SlotIds())
    b = RedisRegistry(Engine(config), SlotIds())
    assert await a.claim() and await b.claim()
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    sessions = f"{a.engine.prefix}sessions:{a.slot}"
    first, second = a.ids.take(a), a.ids.take(a)
    a.add(first, 4242)
    await asyncio.sleep(0.1)
    await raw.delete(sessions)  # as a write-back does before it rewrites the hash
    a.add(second, 4343)
    await asyncio.sleep(0.1)
    assert 0 < await raw.pttl(sessions) <= SLOT_TTL_MS  # the flush's hash expires too
    assert await b.remote_upstream_id(second) == 4343

    for bad in (b"abc", str(2**70).encode(), b"0", b"-5", b"4294967296", b" 7", b"1e3"):
        await raw.hset(sessions, str(second), bad)
        assert await b.remote_upstream_id(second) is None, bad  # unknown thread, no crash
    await raw.hset(sessions, str(second), b"4294967295")
    assert await b.remote_upstream_id(second) == 2**32 - 1

    await raw.delete(f"{a.engine.prefix}slot:{a.slot}")  # the slot is no longer held
    assert await raw.exists(sessions)
    assert await b.remote_upstream_id(second) is None  # its entries are stale
    await raw.aclose()
    for registry in (a, b):
        await registry.engine.close()
