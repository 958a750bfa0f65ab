"""The state implementations against a real redis-server: the redis throttle keeps the
memory throttle's rules and shares them between processes, the fast-auth cache is sealed
and bound to its row, the KILL registry's instance slots, and what happens when the engine
goes away and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from bridge.config import ConfigError, ProtectionConfig, StateConfig
from bridge.hashing import fast_auth_digest
from bridge.mapping.accounts import AccountRow
from bridge.state.engine import MAX_BACKOFF, Engine, StateUnavailable
from bridge.state.fastauth import RedisFastAuth, read_key_file
from bridge.state.registry import SLOT_BITS, RedisRegistry, SlotIds
from bridge.state.throttle import MemoryThrottle, RedisThrottle, ThrottleClosed
from sandbox.redis import RedisServer
from tests.state.polling import eventually, flushed

ROW = AccountRow("app", "%", "caching_sha2_password", b"$A$005$hash-one")


def state_config(tmp_path: Path, url: str, **extra: object) -> StateConfig:
    key = tmp_path / "fast-auth.key"
    if not key.exists():
        key.write_bytes(os.urandom(32))
        key.chmod(0o600)
    settings = {"backend": "redis", "url": url, "fast_auth_key_file": str(key),
                "key_prefix": f"t{secrets.token_hex(4)}:", **extra}  # fmt: skip
    return StateConfig.model_validate(settings)


def protection(**settings: object) -> ProtectionConfig:
    return ProtectionConfig.model_validate(settings)


async def test_redis_throttle_follows_the_memory_throttles_rules(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The same story of failures and successes gives the same delays and locks."""
    for count_by, lock_by in [("address", "account"), ("account_and_address", "account"),
                              ("account", "account_and_address")]:  # fmt: skip
        cfg = protection(failed_login_threshold=2, min_delay=1, max_delay=3, count_by=count_by,
                         failed_login_attempts=4, lock_time=60, lock_by=lock_by)  # fmt: skip
        engine = Engine(state_config(tmp_path, redis_server.url))
        shared, memory = RedisThrottle(cfg, engine, "known_locks"), MemoryThrottle(cfg)
        story = [("f", "bob", "10.0.0.1"), ("f", "BOB", "10.0.0.1"), ("f", "eve", "10.0.0.1"),
                 ("s", "bob", "10.0.0.1"), ("f", "bob", "10.0.0.2"), ("f", "bob", "10.0.0.1"),
                 ("f", "Bob", "10.0.0.1"), ("f", "bob", "10.0.0.1"), ("f", "bob", "10.0.0.1")]  # fmt: skip
        for step, (what, user, address) in enumerate(story):
            for throttle in (shared, memory):
                if what == "f":
                    await throttle.failure(user, address)
                else:
                    await throttle.success(user, address, ())
            mine, theirs = await shared.check(user, address), await memory.check(user, address)
            assert (mine[0] is None) == (theirs[0] is None), (count_by, lock_by, step)
            assert mine[1] == theirs[1], (count_by, lock_by, step)
            if mine[0] is not None and theirs[0] is not None:
                assert mine[0][1] == theirs[0][1]  # the same failure count in the message
                assert 59 < mine[0][0] <= 60
        await engine.close()


async def test_two_processes_share_the_count_and_the_lock(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    cfg = protection(failed_login_attempts=4, lock_time=30, lock_by="account")
    config = state_config(tmp_path, redis_server.url)
    a, b = Engine(config), Engine(config)
    ta, tb = RedisThrottle(cfg, a, "known_locks"), RedisThrottle(cfg, b, "known_locks")
    for throttle in (ta, tb, ta):
        await throttle.failure("carol", "10.0.0.1")
    assert (await tb.check("carol", "10.0.0.7"))[0] is None  # three of four
    await tb.failure("Carol", "10.0.0.2")
    lock_a, lock_b = (await ta.check("carol", "10.0.0.9"))[0], (await tb.check("CAROL", "x"))[0]
    assert lock_a is not None and lock_b is not None and lock_a[1] == lock_b[1] == 4
    assert await tb.unlock("carol", None) >= 1
    assert (await ta.check("carol", "10.0.0.9"))[0] is None
    await a.close()
    await b.close()


async def test_unlock_also_forgets_the_names_it_was_typed_for(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    cfg = protection(failed_login_attempts=2, lock_by="account")
    engine = Engine(state_config(tmp_path, redis_server.url))
    throttle = RedisThrottle(cfg, engine, "known_locks")
    for _ in range(2):
        await throttle.failure("u1", "10.0.0.1", also=("uid=carol,ou=people",))
    assert await throttle.locked("u9", "10.0.0.1", ("UID=Carol,OU=People",)) is not None
    await throttle.unlock("u1", None)
    assert await throttle.locked("u9", "10.0.0.1", ("uid=carol,ou=people",)) is None
    await engine.close()


async def test_keys_hold_no_user_name_or_address(tmp_path: Path, redis_server: RedisServer) -> None:
    config = state_config(tmp_path, redis_server.url)
    engine = Engine(config)
    throttle = RedisThrottle(protection(failed_login_attempts=3), engine, "known_locks")
    await throttle.failure("mallory-the-user", "10.9.8.7")
    keys = [k.decode() if isinstance(k, bytes) else k
            for k in await engine.client.keys(config.key_prefix + "*")]  # fmt: skip
    assert keys and not any("mallory" in k or "10.9.8.7" in k for k in keys)
    ttls = [await engine.client.pttl(k) for k in keys]
    assert all(0 < ttl <= 3_600_000 for ttl in ttls)  # every one expires
    await engine.close()


async def test_an_ipv6_client_is_keyed_by_its_64_in_the_shared_records(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Two processes, two addresses of one /64: one shared count and lock, one key (not
    one per address), unlocked by naming any address of the /64."""
    cfg = protection(failed_login_threshold=1, min_delay=1, count_by="address",
                     failed_login_attempts=2, lock_by="account_and_address")  # fmt: skip
    config = state_config(tmp_path, redis_server.url)
    a, b = Engine(config), Engine(config)
    ta, tb = RedisThrottle(cfg, a, "known_locks"), RedisThrottle(cfg, b, "known_locks")
    await ta.failure("bob", "2001:db8::1")
    await tb.failure("bob", "2001:db8::2:3")
    lock, delay = await ta.check("bob", "2001:db8::ffff")
    assert lock is not None and lock[1] == 2 and delay == 2.0
    assert await tb.check("bob", "2001:db8:0:1::1") == (None, 0.0)  # the next /64
    keys = await a.client.keys(config.key_prefix + "*")
    assert len(keys) == 2  # the address's count and bob's lock there: no key per address
    assert await tb.unlock("bob", "2001:db8::42") == 1
    assert (await ta.check("bob", "2001:db8::1"))[0] is None
    await a.close()
    await b.close()


async def test_fast_auth_is_shared_sealed_and_bound_to_the_row_and_hash(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = state_config(tmp_path, redis_server.url, fast_auth_ttl=60)
    secret = read_key_file(tmp_path / "fast-auth.key")
    one, two = Engine(config), Engine(config)
    a, b = RedisFastAuth(one, secret, 60), RedisFastAuth(two, secret, 60)
    digest = fast_auth_digest(b"app-pw")
    await a.put(ROW, digest)
    assert await b.get(ROW) == digest  # another process: from Redis
    (name,) = [k for k in await one.client.keys(config.key_prefix + "fa:*")]
    stored = await one.client.get(name)
    assert isinstance(stored, bytes)
    assert digest not in stored and b"app" not in name and b"app" not in stored
    assert 0 < await one.client.pttl(name) <= 60_000
    # the same value under another row's key does not open
    other = AccountRow("eve", "%", "caching_sha2_password", ROW.authentication_string)
    await one.client.set(f"{config.key_prefix}fa:{a.sealer.name(other)}", stored)
    assert await RedisFastAuth(one, secret, 60).get(other) is None
    # a bridge with another key reads nothing
    stranger = RedisFastAuth(Engine(config), os.urandom(32), 60)
    assert await stranger.get(ROW) is None
    # the row's hash changed (a new password): no hit, and the stale entry is gone
    changed = AccountRow("app", "%", "caching_sha2_password", b"$A$005$hash-two")
    assert await RedisFastAuth(two, secret, 60).get(changed) is None

    async def deleted() -> bool:  # in the background
        return await one.client.exists(name) == 0

    await eventually(deleted, "the stale entry's deletion")
    for engine in (one, two, stranger.engine):
        await engine.close()


def test_the_key_file_must_be_private_and_long_enough(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_bytes(os.urandom(16))
    key.chmod(0o600)
    with pytest.raises(ConfigError, match="at least 32"):
        read_key_file(key)
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="0644"):
        read_key_file(key)


def test_redis_backend_needs_a_url_and_a_key_file() -> None:
    with pytest.raises(ValueError, match="needs url"):
        StateConfig.model_validate({"backend": "redis", "fast_auth_key_file": "/k"})
    with pytest.raises(ValueError, match="fast_auth_key_file"):
        StateConfig.model_validate({"backend": "redis", "url": "redis://127.0.0.1:1"})
    with pytest.raises(ValueError, match="redis://"):
        StateConfig.model_validate(
            {"backend": "redis", "url": "http://x", "fast_auth_key_file": "/k"}
        )
    assert StateConfig().backend == "memory"


async def test_registry_slots_make_ids_unique_and_sessions_findable(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = state_config(tmp_path, redis_server.url)
    a = RedisRegistry(Engine(config), SlotIds())
    b = RedisRegistry(Engine(config), SlotIds())
    assert await a.claim() and await b.claim() and a.slot != b.slot and 0 not in (a.slot, b.slot)
    id_a = a.ids.take(a)
    assert id_a >> SLOT_BITS == a.slot
    a.add(id_a, 4242, a.owner("alice", "alice"))
    await flushed(a)  # the write is in the background
    assert await b.remote_upstream_id(id_a) == 4242
    found = await b.remote_find(id_a)  # the owner, as every instance (one key file) digests it
    assert found is not None and found.same_owner(b.owner("alice", "alice"))
    assert not found.same_owner(b.owner("bob", "bob"))
    assert not found.same_owner(
        RedisRegistry(b.engine, SlotIds(), b"other").owner("alice", "alice")
    )
    assert await a.remote_upstream_id(id_a) is None  # its own: found locally, not here
    a.remove(id_a)
    await flushed(a)
    assert await b.remote_upstream_id(id_a) is None
    a.add(id_a, 4343)
    await flushed(a)
    assert await b.remote_upstream_id(id_a) == 4343
    await a.release()  # shutdown: gone at once
    assert await b.remote_upstream_id(id_a) is None
    await a.engine.close()
    await b.engine.close()


async def test_engine_down_then_back(tmp_path: Path) -> None:
    """Calls fail fast while it is down (no hang), locks seen stay (known_locks), new
    failures count in-process; after a restart without data the slot is claimed again
    and the live sessions are written back."""
    server = RedisServer.start(tmp_path / "redis")
    try:
        config = state_config(tmp_path, server.url, command_timeout=0.3, connect_timeout=0.3)
        cfg = protection(failed_login_attempts=2, lock_by="account")
        engine = Engine(config)
        known, opened = (RedisThrottle(cfg, engine, "known_locks"),
                         RedisThrottle(cfg, engine, "open"))  # fmt: skip
        closed = RedisThrottle(cfg, engine, "closed")
        registry = RedisRegistry(engine, SlotIds())
        assert await registry.claim()
        live = registry.ids.take(registry)
        registry.add(live, 77)
        for _ in range(2):
            await known.failure("dave", "10.0.0.1")
        assert (await known.check("dave", "10.0.0.1"))[0] is not None  # seen, remembered
        assert (await opened.check("dave", "10.0.0.1"))[0] is not None
        server.stop()
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await known.check("dave", "10.0.0.1"))[0] is not None  # fail closed: known
        assert (await opened.check("dave", "10.0.0.1"))[0] is None  # open: only local counts
        with pytest.raises(ThrottleClosed):
            await closed.check("dave", "10.0.0.1")
        await known.failure("erin", "10.0.0.1")  # counted in-process
        await known.failure("erin", "10.0.0.1")
        assert (await known.check("erin", "10.0.0.1"))[0] is not None
        assert loop.time() - started < 2.0  # nothing waited long
        assert not engine.up and engine.errors >= 1
        with pytest.raises(StateUnavailable):
            await engine.run(lambda c: c.ping())
        server.start_again()  # empty: no persistence

        async def renewed() -> bool:  # skipped while the engine backs off (0.25 s or more)
            await registry.renew()
            return engine.up

        await eventually(renewed, "a renewal after the restart", MAX_BACKOFF + 5)
        other = RedisRegistry(Engine(config), SlotIds())
        assert await other.remote_upstream_id(live) == 77  # written back
        await other.engine.close()
        await engine.close()
    finally:
        server.stop()


async def test_an_operators_call_asks_the_engine_even_while_backing_off(tmp_path: Path) -> None:
    """After a failure the engine backs off: a login's call is skipped with the last
    failure; an unlock's (now=True) asks at once, so it answers from what the engine says
    now: back already, or down with this moment's cause."""
    server = RedisServer.start(tmp_path / "redis")
    try:
        config = state_config(tmp_path, server.url, command_timeout=0.3, connect_timeout=0.3)
        engine = Engine(config)
        assert await engine.run(lambda c: c.ping())
        server.stop()
        with pytest.raises(StateUnavailable):
            await engine.run(lambda c: c.ping())
        with pytest.raises(StateUnavailable, match="not asked again until"):
            await engine.run(lambda c: c.ping())  # skipped: backing off
        with pytest.raises(StateUnavailable) as asked:
            await engine.run(lambda c: c.ping(), now=True)
        assert "not asked again" not in str(asked.value)  # asked, and refused again
        assert not engine.available  # backing off after the second failure
        server.start_again()
        assert await engine.run(lambda c: c.ping(), now=True)
        assert engine.up
        await engine.close()
    finally:
        server.stop()


async def test_an_answer_ends_the_backoff_a_concurrent_failure_started(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """At a restart the heartbeat's call and another (on a connection the old server
    closed) are in flight together: when the second fails first and the first then gets
    its answer, the engine is back and asked at once, not skipped for the rest of a
    backoff (which left the slot unclaimed and the caches unwritten, without a word)."""
    import redis.exceptions

    config = state_config(tmp_path, redis_server.url)
    engine = Engine(config)
    answer = asyncio.Event()

    async def answered_later(client: Any) -> Any:
        await answer.wait()
        return await client.ping()

    async def closed(_: Any) -> Any:
        raise redis.exceptions.ConnectionError("Connection closed by server.")

    for _ in range(4):  # failures while it was down: the backoff is well past a second
        with contextlib.suppress(StateUnavailable):
            await engine.run(closed, now=True)
    assert not engine.available
    heartbeat = asyncio.create_task(engine.run(answered_later, now=True))
    await asyncio.sleep(0)  # in flight
    with pytest.raises(StateUnavailable):
        await engine.run(closed, now=True)
    answer.set()
    assert await heartbeat
    assert engine.up and engine.available
    assert await engine.run(lambda c: c.ping())  # asked, not skipped
    await engine.close()


async def test_registry_batches_end_equal_to_the_live_sessions(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Sessions that come and go while batches are being written: what Redis holds in the
    end is exactly the live sessions (a stale entry would point a KILL at a pooled thread)."""
    import random

    config = state_config(tmp_path, redis_server.url)
    registry = RedisRegistry(Engine(config), SlotIds())
    assert await registry.claim()
    rng = random.Random(14)
    live: list[int] = []
    for step in range(300):
        if live and rng.random() < 0.45:
            registry.remove(live.pop(rng.randrange(len(live))))
        else:
            bridge_id = registry.ids.take(registry)
            registry.add(bridge_id, step + 1000, registry.owner(f"u{step}", "i"))
            live.append(bridge_id)
        if rng.random() < 0.3:
            await asyncio.sleep(rng.choice([0, 0.001, 0.01, 0.03]))
    await flushed(registry)  # nothing pending or in flight: Redis holds its last word
    held = await registry.engine.client.hgetall(f"{config.key_prefix}sessions:{registry.slot}")
    assert {int(k) for k in held} == set(live)
    for k, v in held.items():  # thread id ':' the owner digest ':' the seal, in hex
        entry = registry.find(int(k))
        assert isinstance(v, bytes) and entry is not None
        assert v.startswith(f"{entry.thread}:{entry.owner.hex()}:".encode())
        assert len(entry.owner) == 16 and len(v.rsplit(b":", 1)[1]) == 32
    await registry.release()
    await registry.engine.close()


async def test_unlock_finds_per_address_records_whatever_the_prefix(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    cfg = protection(failed_login_attempts=2, lock_by="account_and_address")
    for prefix in ("plain:", "g*l?o[b]\\:"):
        engine = Engine(state_config(tmp_path, redis_server.url, key_prefix=prefix))
        throttle = RedisThrottle(cfg, engine, "known_locks")
        other = RedisThrottle(cfg, Engine(state_config(tmp_path, redis_server.url)), "open")
        for address in ("10.0.0.1", "10.0.0.2"):
            for _ in range(2):
                await throttle.failure("frank", address)
                await other.failure("frank", address)
        assert await throttle.unlock("FRANK", "10.0.0.1") == 1
        assert (await throttle.check("frank", "10.0.0.1"))[0] is None
        assert (await throttle.check("frank", "10.0.0.2"))[0] is not None
        assert await throttle.unlock("frank", None) == 1
        assert (await throttle.check("frank", "10.0.0.2"))[0] is None
        assert (await other.check("frank", "10.0.0.2"))[0] is not None  # another prefix
        await engine.close()
        await other.engine.close()


async def test_fast_auth_asks_redis_before_the_exchange_hit_or_miss(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """No answer from memory before the client proved anything (its timing would tell who
    logged in lately); after the proof, and while Redis is down, memory serves."""
    config = state_config(tmp_path, redis_server.url)
    engine = Engine(config)
    cache = RedisFastAuth(engine, read_key_file(tmp_path / "fast-auth.key"), 60)
    digest = fast_auth_digest(b"app-pw")
    await cache.put(ROW, digest)
    calls: list[object] = []
    run = engine.run

    async def counted(op: Any, *, now: bool = False) -> Any:
        calls.append(op)
        return await run(op, now=now)

    engine.run = counted  # type: ignore[method-assign]
    assert await cache.get(ROW) == digest and len(calls) == 1
    assert await cache.get(ROW, proven=True) == digest and len(calls) == 1
    await engine.client.delete(cache._redis_key(ROW))
    assert await cache.get(ROW) is None  # Redis answered: gone (flushed, expired)
    engine._retry_at = float("inf")  # down: backing off
    assert await cache.get(ROW) == digest  # what this process saw
    await engine.close()


async def test_closed_refuses_at_the_start_only(tmp_path: Path) -> None:
    """throttle_when_down closed: the check before the exchange raises; the look at
    resolved names after it (Redis gone meanwhile) does not end the login in an error."""
    config = state_config(tmp_path, "redis://127.0.0.1:1/0", command_timeout=0.2)
    engine = Engine(config)
    throttle = RedisThrottle(protection(failed_login_attempts=2), engine, "closed")
    with pytest.raises(ThrottleClosed):
        await throttle.check("gina", "10.0.0.1")
    assert await throttle.locked("gina", "10.0.0.1", ("uid=gina,ou=people",)) is None
    await engine.close()
