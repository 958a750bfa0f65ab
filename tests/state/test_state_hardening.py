"""What a writer to Redis must not be able to do (the security review of the shared state),
against a real redis-server: forge LDAP groups, get parallel guesses past a lock, crash a
KILL with a bad registry value."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import ssl
import time
from pathlib import Path

import pytest
import redis.asyncio
from pydantic import ValidationError

from bridge.backends.base import Peer
from bridge.backends.store import StoreBackend
from bridge.checks import state_warnings
from bridge.config import BridgeConfig, LdapConfig, ProtectionConfig, StateConfig, UpstreamConfig
from bridge.credentials import Sha2Scramble
from bridge.errors import Denied
from bridge.hashing import Sha2CryptHash, fast_auth_digest, make_sha2
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import client_host
from bridge.registry import Entry
from bridge.scramble import sha2_token
from bridge.state.engine import Engine
from bridge.state.fastauth import RedisFastAuth, read_key_file
from bridge.state.groups import GroupSealer, SharedGroupCache, ldap_context
from bridge.state.registry import SLOT_TTL_MS, RedisRegistry, SlotIds
from bridge.state.throttle import MemoryThrottle, RedisThrottle
from bridge.throttle import name_key
from sandbox.redis import RedisServer
from tests.state.polling import eventually, flushed
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
    await flushed(a)
    await raw.delete(sessions)  # as a write-back does before it rewrites the hash
    a.add(second, 4343)
    await flushed(a)
    assert 0 < await raw.pttl(sessions) <= SLOT_TTL_MS  # the flush's hash expires too
    assert await b.remote_upstream_id(second) == 4343

    for bad in (b"abc", str(2**70).encode(), b"0", b"-5", b"4294967296", b" 7", b"1e3"):
        await raw.hset(sessions, str(second), bad)
        assert await b.remote_upstream_id(second) is None, bad  # unknown thread, no crash
    largest = Entry(2**32 - 1, b.owner("bob", "bob"))
    await raw.hset(sessions, str(second), b._stored(second, largest))
    assert await b.remote_upstream_id(second) == 2**32 - 1
    digest = b.owner("alice", "alice")
    sealed = b._stored(second, Entry(7, digest)).encode()
    assert await raw.hset(sessions, str(second), sealed) == 0
    assert await b.remote_find(second) == Entry(7, digest)
    seal = sealed.rsplit(b":", 1)[1]
    for value in (b"7:" + digest.hex().encode(),  # no seal (as written before seals)
                  b"8:" + digest.hex().encode() + b":" + seal,  # another thread
                  b"7:" + b.owner("mallory", "m").hex().encode() + b":" + seal,  # owner
                  sealed + b"00", sealed[:-1] + (b"1" if sealed.endswith(b"0") else b"0"),
                  b"7:zz:" + seal, b"7:\xff:" + seal):  # fmt: skip
        await raw.hset(sessions, str(second), value)  # not what a bridge wrote: no entry
        assert await b.remote_find(second) is None, value
    await raw.hset(sessions, str(first), sealed)  # a sealed entry moved to another id
    assert await b.remote_find(first) is None
    await raw.hset(sessions, str(second), sealed)

    await raw.delete(f"{a.engine.prefix}slot:{a.slot}")  # the slot is no longer held
    assert await raw.exists(sessions)
    assert await b.remote_upstream_id(second) is None  # its entries are stale
    await raw.aclose()
    for registry in (a, b):
        await registry.engine.close()


def test_state_urls_carry_no_credentials_or_options() -> None:
    """A password in the URL reached logs and error texts; ?ssl_cert_reqs=none overrode the
    TLS settings. Both are refused, and the error does not repeat the password."""
    for url in ("redis://app:s3cret@10.0.0.5:6379/0", "redis://:s3cret@10.0.0.5/0",
                "unix://app:s3cret@/run/redis.sock"):  # fmt: skip
        with pytest.raises(ValidationError) as info:
            StateConfig.model_validate({"url": url})
        message = info.value.errors()[0]["msg"]
        assert "state.password_file" in message and "s3cret" not in message
    for url in ("rediss://10.0.0.5/0?ssl_cert_reqs=none", "rediss://h/0?ssl_check_hostname=false",
                "unix:///run/redis.sock?db=1"):  # fmt: skip
        with pytest.raises(ValidationError, match="takes no \\?options"):
            StateConfig.model_validate({"url": url})
    assert StateConfig.model_validate({"url": "rediss://redis.internal:6380/2"}).url


def test_tls_to_redis_checks_the_certificate_and_the_host_name(tmp_path: Path) -> None:
    config = state_config(tmp_path, "rediss://redis.internal:6380/0")
    engine = Engine(config)
    kwargs = engine.client.connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "required" and kwargs["ssl_check_hostname"] is True
    assert kwargs["ssl_min_version"] == ssl.TLSVersion.TLSv1_2


def test_check_warns_about_plain_redis_to_another_host() -> None:
    def warnings(*urls: str) -> list[str]:
        state = StateConfig.model_validate({"backend": "redis", "urls": list(urls),
                                            "fast_auth_key_file": "/nonexistent"})  # fmt: skip
        upstream = UpstreamConfig(credentials=Path("/nonexistent"))
        config = BridgeConfig(upstream=upstream, state=state)
        return state_warnings(config)

    assert warnings("redis://127.0.0.1:6379/0", "redis://[::1]:6379", "redis://localhost",
                    "unix:///run/redis.sock", "rediss://10.0.0.5/0") == []  # fmt: skip
    (found,) = warnings("redis://127.0.0.1/0", "redis://10.0.0.5:6379/0")
    assert "redis://10.0.0.5:6379/0" in found and "rediss://" in found


async def test_forged_or_corrupt_throttle_records_are_cut_or_dropped(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """A lock end 31,000 years away lasts lock_time; a record of another type or with a
    count that is no integer is dropped (as if expired), and the engine stays up."""
    settings = {"failed_login_attempts": 3, "lock_time": 60, "lock_by": "account"}
    cfg = ProtectionConfig.model_validate({**settings, "failed_login_threshold": 2})
    engine = Engine(state_config(tmp_path, redis_server.url))
    throttle = RedisThrottle(cfg, engine, "known_locks")
    raw = redis.asyncio.Redis.from_url(redis_server.url)
    await throttle.failure("erin", "10.0.0.4")
    await throttle.failure("erin", "10.0.0.4", ("Erin-Resolved",))
    keys = [k.decode() for k in await raw.keys(f"{engine.prefix}th:*") if isinstance(k, bytes)]
    by_name = throttle._key(("u", name_key("erin")))
    assert by_name in keys
    await raw.hset(by_name, "l", 10**15)
    lock, _ = await throttle.check("erin", "10.0.0.4")
    assert lock is not None and 59 < lock[0] <= 60
    await throttle.failure("erin", "10.0.0.4")
    assert 0 < await raw.pttl(by_name) <= 3_600_000
    assert int(await raw.hget(by_name, "l") or 0) <= 10**13  # cut in the record too
    assert all(end < 61 + time.monotonic() for end, _ in throttle._known.values())

    for key in keys:
        await raw.delete(key)
        if "th:t:" in key:
            await raw.set(key, "not a set")
        elif "th:a:" in key:
            await raw.hset(key, mapping={"n": "abc", "k": "1", "s:x": "1"})
        else:
            await raw.set(key, "not a hash")
    await throttle.failure("erin", "10.0.0.4", ("Erin-Resolved",))
    assert await throttle.check("erin", "10.0.0.4") == (None, 0.0)  # one failure: fresh counts
    assert await throttle.locked("erin", "10.0.0.4", ("Erin-Resolved",)) is None
    await throttle.success("erin", "10.0.0.4", ("Erin-Resolved",))
    assert engine.up and engine.errors == 0
    await raw.aclose()
    await engine.close()


async def test_a_fast_auth_entry_kept_past_its_ttl_does_not_open(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    row = AccountRow("app", "%", "caching_sha2_password", b"$A$005$hash-one")
    digest = fast_auth_digest(b"app-pw")
    config = state_config(tmp_path, redis_server.url, fast_auth_ttl=60)
    engine = Engine(config)
    cache = RedisFastAuth(engine, read_key_file(Path(str(config.fast_auth_key_file))), 60)
    await cache.put(row, digest)
    other = RedisFastAuth(engine, read_key_file(Path(str(config.fast_auth_key_file))), 60)
    assert await other.get(row) == digest  # a fresh process: from Redis
    key = f"{config.key_prefix}fa:{cache.sealer.name(row)}"
    await engine.client.set(key, cache.sealer.seal(row, digest, -1))  # ended, then PERSISTed
    third = RedisFastAuth(engine, read_key_file(Path(str(config.fast_auth_key_file))), 60)
    assert await third.get(row) is None
    await engine.close()


async def test_fast_auth_check_uses_the_digest_fetched_before_the_exchange() -> None:
    """The client already got FAST_AUTH_SUCCESS: the check after the exchange must not
    depend on the cache still holding the digest (RedisFastAuth drops its memory copy
    beyond MAX_LOCAL entries)."""
    stored = make_sha2(b"app-pw", 5)
    assert isinstance(stored, Sha2CryptHash)
    row = AccountRow("app", "%", "caching_sha2_password", stored.raw())
    digest, nonce = fast_auth_digest(b"app-pw"), os.urandom(20)
    store = StoreBackend()  # its cache is empty: as after the copy was dropped
    token = sha2_token(b"app-pw", nonce)
    peer = Peer(client_host("127.0.0.1", False), "tls")
    identity = await store.verify(Sha2Scramble(nonce, token, digest), "app", row, peer)
    assert identity.name == "app"
    with pytest.raises(Denied):
        await store.verify(Sha2Scramble(nonce, token, fast_auth_digest(b"other")), "app", row, peer)


async def test_a_key_of_another_type_is_a_miss_not_an_engine_outage(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = state_config(tmp_path, redis_server.url)
    engine = Engine(config)
    secret = read_key_file(Path(str(config.fast_auth_key_file)))
    cache = RedisFastAuth(engine, secret, 60)
    row = AccountRow("app", "%", "caching_sha2_password", b"$A$005$hash-one")
    await engine.client.hset(f"{config.key_prefix}fa:{cache.sealer.name(row)}", "x", "1")
    assert await cache.get(row) is None

    async def deleted() -> bool:  # in the background
        return not await engine.client.exists(f"{config.key_prefix}fa:{cache.sealer.name(row)}")

    await eventually(deleted, "the corrupt key's deletion")
    sealer = GroupSealer(secret, ldap_context(ldap_config()))
    groups = SharedGroupCache(engine, 60, asyncio.get_running_loop(), sealer)
    await engine.client.rpush(f"{config.key_prefix}ldap:{sealer.name(DN)}", "dba")
    assert await asyncio.to_thread(groups.get, DN) is None
    registry = RedisRegistry(engine, SlotIds())
    other = RedisRegistry(Engine(config), SlotIds())
    assert await other.claim()
    await engine.client.set(f"{config.key_prefix}sessions:{other.slot}", "not a hash")
    assert await registry.remote_upstream_id((other.slot << 20) | 1) is None
    assert engine.up and engine.errors == 0 and engine.available
    await other.engine.close()
    await engine.close()


async def test_throttle_key_names_are_keyed_by_the_key_file(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """A reader cannot find a user's or an address's records by hashing a guess, and a
    writer cannot plant a lock for a name without the key file."""
    cfg = ProtectionConfig.model_validate({"failed_login_attempts": 3, "lock_by": "account"})
    engine = Engine(state_config(tmp_path, redis_server.url))
    one = RedisThrottle(cfg, engine, "known_locks", os.urandom(32))
    two = RedisThrottle(cfg, engine, "known_locks", os.urandom(32))
    await one.failure("frank", "10.0.0.6")
    found = await engine.client.keys(f"{engine.prefix}th:*")
    keys = {k.decode() for k in found if isinstance(k, bytes)}
    unkeyed = hashlib.sha256(b"frank").hexdigest()[:32]
    assert keys and not any(unkeyed in k or "frank" in k for k in keys)
    assert one._key(("u", "frank")) in keys and two._key(("u", "frank")) not in keys
    for _ in range(3):
        await two.failure("frank", "10.0.0.6")  # another key file: other records
    assert (await one.check("frank", "10.0.0.6"))[0] is None
    assert (await two.check("frank", "10.0.0.6"))[0] is not None
    await engine.close()
