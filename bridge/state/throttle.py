"""Failed-login throttling behind one async interface, so that the counts and locks can be
shared by every worker and instance (docs/scaling.md).

- MemoryThrottle: bridge/throttle.py's in-process Throttle, as it always was.
- RedisThrottle: the same rules on the state engine, each operation one Lua script (atomic
  on the server, expiry set in the same step, the server's clock for every time). Names and
  addresses are hashed in the keys. While the engine is down it falls back by
  `state.throttle_when_down`: `known_locks` (the default) keeps refusing the locks this
  process has seen and counts new failures in-process; `open` counts in-process only;
  `closed` refuses every login (as a backend outage: ERROR 1045)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Iterable
from typing import Any, Protocol

from bridge.config import ProtectionConfig
from bridge.slots import source_key
from bridge.state.engine import BadReply, Engine, StateUnavailable
from bridge.state.fastauth import derive_key
from bridge.throttle import MAX_USERS_PER_ADDRESS, OTHERS, Key, Throttle, name_key

log = logging.getLogger("bridge.state")
FORGET_AFTER_MS = 3_600_000  # as bridge/throttle.py's FORGET_AFTER
MAX_KNOWN = 100_000  # locks remembered for when the engine is down; expired ones go first
Lock = tuple[float, int]  # (seconds remaining, failures)


class ThrottleClosed(Exception):
    """throttle_when_down: closed, and the engine is down: refuse the login."""


class ThrottleState(Protocol):
    config: ProtectionConfig

    async def check(self, user: str, address: str) -> tuple[Lock | None, float]:
        """Before the exchange: a lock on the typed name, and the delay to serve."""

    async def locked(self, user: str, address: str, also: Iterable[str | None]) -> Lock | None:
        """After it: a lock under any name the backend resolved."""

    async def failure(self, user: str, address: str, also: Iterable[str | None] = ()) -> None: ...

    async def success(self, user: str, address: str, also: Iterable[str | None]) -> None: ...

    async def unlock(self, user: str, address: str | None) -> int: ...


class PartlyUnlocked(StateUnavailable):
    """`unlock` while the state engine is down: what this process kept is forgotten
    (`records`), the shared records are not."""

    def __init__(self, records: int, why: str) -> None:
        super().__init__(why)
        self.records = records


class _WithLocalCounters:
    """This process's own counters, whose settings are the throttle's (a reload sets them)."""

    def __init__(self, config: ProtectionConfig) -> None:
        self.local = Throttle(config)

    @property
    def config(self) -> ProtectionConfig:
        return self.local.config

    @config.setter
    def config(self, config: ProtectionConfig) -> None:
        self.local.config = config


class MemoryThrottle(_WithLocalCounters):
    """This process's own counters (state.backend memory)."""

    async def check(self, user: str, address: str) -> tuple[Lock | None, float]:
        return self.local.locked(user, address), self.local.delay(user, address)

    async def locked(self, user: str, address: str, also: Iterable[str | None]) -> Lock | None:
        return self.local.locked(user, address, also)

    async def failure(self, user: str, address: str, also: Iterable[str | None] = ()) -> None:
        self.local.failure(user, address, also)

    async def success(self, user: str, address: str, also: Iterable[str | None]) -> None:
        self.local.success(user, address, also)

    async def unlock(self, user: str, address: str | None) -> int:
        return self.local.unlock(user, address)


# --- Lua: each runs atomically on the server ---------------------------------------------

# Every script first makes each record it reads a well-formed hash: a value of another type,
# or a count that is not a small integer (written by someone else), is deleted, as if the
# record had expired, rather than failing the script (which would count as "engine down").
# A lock end further away than lock_time (forged) is cut to lock_time.
CLEAN = """
local function clean(key, extra)
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then return end
  if t ~= 'hash' then redis.call('DEL', key) return end
  local fields = {'n', 'k', 'l'}
  if extra then fields[4] = extra end
  for _, f in ipairs(fields) do
    local v = redis.call('HGET', key, f)
    if v and (#v > 18 or not string.match(v, '^%-?%d+$')) then
      redis.call('DEL', key)
      return
    end
  end
end
local function num(v)
  return tonumber(v or '0') or 0
end
"""

# KEYS[1]: the count key (for the delay); KEYS[2..ARGV[1]]: lock keys; the rest: records
# a success would clear. ARGV[2]: lock ms. -> {failures of KEYS[1], then per lock key: ms
# remaining, failures; then how many of the rest exist}
CHECK = (
    CLEAN
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last, lock_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, last do
  clean(KEYS[i])
end
local out = {num(redis.call('HGET', KEYS[1], 'n'))}
for i = 2, last do
  local h = redis.call('HMGET', KEYS[i], 'n', 'l')
  local left = num(h[2]) - now
  out[#out + 1] = math.min(math.max(left, 0), lock_ms)
  out[#out + 1] = num(h[1])
end
local exist = 0
for i = last + 1, #KEYS do
  exist = exist + redis.call('EXISTS', KEYS[i])
end
out[#out + 1] = exist
return out
"""
)

# KEYS: records; ARGV: attempts, lock ms, forget ms, max shares, others, then per key:
# lockable (1/0), share (whose failure, for an address record, or ''), typed-index key or ''.
# -> per key: ms of lock remaining, failures
FAILURE = (
    CLEAN
    + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local attempts, lock_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local forget_ms, max_shares, others = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local out = {}
for i, key in ipairs(KEYS) do
  local a = 5 + (i - 1) * 3
  local lockable, share, typed = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  clean(key, share ~= '' and ('s:' .. share) or nil)
  if share ~= '' then
    clean(key, 's:' .. others)
  end
  local l = math.min(num(redis.call('HGET', key, 'l')), now + lock_ms)
  local n = redis.call('HINCRBY', key, 'n', 1)
  if share ~= '' then
    local field = 's:' .. share
    if redis.call('HEXISTS', key, field) == 0 then
      if num(redis.call('HGET', key, 'k')) >= max_shares then
        field = 's:' .. others
      else
        redis.call('HINCRBY', key, 'k', 1)
      end
    end
    redis.call('HINCRBY', key, field, 1)
  end
  if lockable == '1' and attempts > 0 and n % attempts == 0 then
    l = now + lock_ms
  end
  if l > now then
    redis.call('HSET', key, 'l', l)
  end
  local ttl = math.max(forget_ms, l - now)
  redis.call('PEXPIRE', key, ttl)
  if typed ~= '' then
    local kind = redis.call('TYPE', typed)['ok']
    if kind ~= 'set' and kind ~= 'none' then
      redis.call('DEL', typed)
    end
    redis.call('SADD', typed, key)
    redis.call('PEXPIRE', typed, math.max(ttl, redis.call('PTTL', typed)))
  end
  out[#out + 1] = (l > now) and (l - now) or 0
  out[#out + 1] = n
end
return out
"""
)

# KEYS: records; ARGV per key: '' (forget the record) or a share to take off its count.
SUCCESS = (
    CLEAN
    + """
for i, key in ipairs(KEYS) do
  local share = ARGV[i]
  if share == '' then
    redis.call('DEL', key)
  else
    clean(key, 's:' .. share)
    local s = num(redis.call('HGET', key, 's:' .. share))
    if s > 0 then
      redis.call('HDEL', key, 's:' .. share)
      redis.call('HINCRBY', key, 'k', -1)
      if redis.call('HINCRBY', key, 'n', -s) <= 0 then
        redis.call('DEL', key)
      end
    end
  end
end
return {}
"""
)


def _h(text: str, key: bytes = b"") -> str:
    """A key part: an HMAC under a key derived from the key file, so that no name or
    address is readable in the keys, nor found by hashing a guess."""
    return hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


class RedisThrottle(_WithLocalCounters):
    """The throttle's rules (bridge/throttle.py) with the records on the state engine;
    `local` counts while the engine is down."""

    def __init__(
        self, config: ProtectionConfig, engine: Engine, when_down: str, secret: bytes = b""
    ) -> None:
        """`secret`: the key file's (serve always passes it); the key names' HMAC key."""
        super().__init__(config)
        self.engine = engine
        self._names_key = derive_key(secret, b"throttle names") if secret else b""
        self.when_down = when_down
        self._known: dict[str, tuple[float, int]] = {}  # lock key -> (monotonic end, failures)
        # (name, address) whose check found no record a success would clear: its success
        # (under the typed name only) needs no round trip. A failure here takes it out.
        self._clean: set[tuple[str, str]] = set()
        client = engine.client
        self._check, self._failure, self._success = (
            client.register_script(CHECK), client.register_script(FAILURE),
            client.register_script(SUCCESS),
        )  # fmt: skip

    # --- keys -------------------------------------------------------------------------------

    def _h(self, text: str) -> str:
        return _h(text, self._names_key)

    def _key(self, key: Key) -> str:
        return f"{self.engine.prefix}th:{key[0]}:" + ":".join(self._h(part) for part in key[1:])

    def _typed_index(self, name: str) -> str:
        return f"{self.engine.prefix}th:t:{self._h(name)}"

    def _records(self, how: str, names: list[str], address: str) -> list[Key]:
        return self.local._keys(how, names, address)

    # --- the interface ----------------------------------------------------------------------

    async def check(self, user: str, address: str) -> tuple[Lock | None, float]:
        cfg = self.config
        if not self.local.enabled:
            return None, 0.0
        name = name_key(user)
        count = self._key(self._records(cfg.count_by, [name], address)[0])
        locks = [self._key(k) for k in self._records(cfg.lock_by, [name], address)]
        locks = locks if cfg.failed_login_attempts else []
        clears = self._success_keys([name], address)[0]
        try:
            out = await self._call(self._check, [count, *locks, *clears],
                                   self._check_args(locks), 2 + 2 * len(locks))  # fmt: skip
        except StateUnavailable:
            return self._fallback_lock(user, address, locks, ()), self.local.delay(user, address)
        if out[-1] == 0:
            if len(self._clean) > MAX_KNOWN:
                self._clean.clear()
            self._clean.add((name, source_key(address)))
        return self._lock_from(locks, out[1:-1]), self._delay(int(out[0]))

    def _check_args(self, locks: list[str]) -> list[int]:
        return [1 + len(locks), int(self.config.lock_time * 1000)]

    def _delay(self, failures: int) -> float:
        threshold = self.config.failed_login_threshold
        if not threshold or failures < threshold:
            return 0.0
        return min(self.config.max_delay, self.config.min_delay * (failures - threshold + 1))

    async def locked(self, user: str, address: str, also: Iterable[str | None]) -> Lock | None:
        """After authentication: a lock under the typed name (set by the failures of
        parallel guesses while this exchange ran) or any name the backend resolved, as the
        memory throttle rechecks every name."""
        if not self.config.failed_login_attempts:
            return None
        also = tuple(also)
        names = self.local._names(user, also)
        locks = [self._key(k) for k in self._records(self.config.lock_by, names, address)]
        try:
            out = await self._call(self._check, [locks[0], *locks], self._check_args(locks),
                                   2 + 2 * len(locks))  # fmt: skip
        except StateUnavailable:  # closed refuses at the start of a login, not here
            return self._fallback_lock(user, address, locks, also, refuse=False)
        return self._lock_from(locks, out[1:-1])

    async def failure(self, user: str, address: str, also: Iterable[str | None] = ()) -> None:
        if not self.local.enabled:
            return
        also = tuple(also)
        names = self.local._names(user, also)
        self._clean.discard((names[0], source_key(address)))
        keys, args = self._failure_args(names, address)
        try:
            out = await self._call(self._failure, keys, args, 2 * len(keys))
        except StateUnavailable:
            self.local.failure(user, address, also)
            return
        self._lock_from(keys, out)

    def _failure_args(self, names: list[str], address: str) -> tuple[list[str], list[Any]]:
        cfg = self.config
        keys: list[str] = []
        args: list[Any] = [cfg.failed_login_attempts, int(cfg.lock_time * 1000), FORGET_AFTER_MS,
                           MAX_USERS_PER_ADDRESS, self._h(OTHERS)]  # fmt: skip
        for how in dict.fromkeys((cfg.count_by, cfg.lock_by)):
            for key in self._records(how, names, address):
                if (name := self._key(key)) in keys:
                    continue
                keys.append(name)
                share = self._h(names[0]) if how == "address" else ""
                resolved = how != "address" and key[1] != names[0]
                typed = self._typed_index(names[0]) if resolved else ""
                args += [1 if how == cfg.lock_by else 0, share, typed]
        return keys, args

    async def success(self, user: str, address: str, also: Iterable[str | None]) -> None:
        if not self.local.enabled:
            return
        also = tuple(also)
        names = self.local._names(user, also)
        self.local.success(user, address, also)
        clean = (names[0], source_key(address)) in self._clean
        self._clean.discard((names[0], source_key(address)))
        if clean and len(names) == 1:
            return  # nothing to clear when the check looked
        keys, shares = self._success_keys(names, address)
        for name in keys:
            self._known.pop(name, None)
        with contextlib.suppress(StateUnavailable):  # else the records expire by themselves
            await self._call(self._success, keys, shares, 0)

    def _success_keys(self, names: list[str], address: str) -> tuple[list[str], list[str]]:
        """The records a success clears, and for each the share to take off ('' = all)."""
        keys: list[str] = []
        shares: list[str] = []
        for how in dict.fromkeys((self.config.count_by, self.config.lock_by)):
            for record in self._records(how, names, address):
                keys.append(self._key(record))
                shares.append(self._h(names[0]) if how == "address" else "")
        return keys, shares

    async def unlock(self, user: str, address: str | None) -> int:
        """Every record of this name (all spellings), and those it was typed for."""
        name = name_key(user)
        forgotten = self.local.unlock(user, address)
        address = None if address is None else source_key(address)  # as the records are keyed
        by_name = self._key(("u", name))
        exact = self._key(("ua", name, address)) if address else self._key(("ua", name)) + ":"
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", exact) + ("" if address else "*")

        async def gather(client: Any) -> list[str]:
            found = [by_name] if await client.exists(by_name) else []
            found += [k.decode() async for k in client.scan_iter(match=pattern, count=500)]
            typed = [k.decode() for k in await client.smembers(self._typed_index(name))]
            suffix = f":{self._h(address)}" if address else ""
            start = len(self.engine.prefix) + len("th:")
            found += [k for k in typed if k.startswith("u:", start) or k.endswith(suffix)]
            if found:
                await client.delete(*found)
            return found

        try:
            keys = await self.engine.run(gather, now=True)
        except StateUnavailable as exc:
            # The engine is down: at least the locks this process keeps refusing
            # (throttle_when_down: known_locks) go; the shared records stay until it answers.
            mine = (by_name, exact)
            known = [k for k in self._known
                     if k in mine or (address is None and k.startswith(exact))]  # fmt: skip
            for key in known:
                del self._known[key]
            raise PartlyUnlocked(forgotten + len(known), str(exc)) from None
        for key in keys:
            self._known.pop(key, None)
        return max(forgotten, len(set(keys)))

    # --- helpers ----------------------------------------------------------------------------

    async def _call(self, script: Any, keys: list[str], args: list[Any], size: int) -> list[int]:
        """The script's reply: `size` integers, else BadReply (the engine counts as down)."""

        async def call(client: Any) -> list[int]:
            out = await script(keys=keys, args=args, client=client)
            if (
                not isinstance(out, list)
                or len(out) != size
                or not all(type(v) is int for v in out)
            ):
                raise BadReply(f"a throttle script's reply is not {size} integers")
            return out

        return await self.engine.run(call)

    def _lock_from(self, keys: list[str], pairs: list[int]) -> Lock | None:
        """The first lock in (ms remaining, failures) pairs; every lock seen is remembered
        for when the engine is down."""
        found: Lock | None = None
        now = time.monotonic()
        if len(self._known) > MAX_KNOWN:
            self._known = {k: v for k, v in self._known.items() if v[0] > now}
        longest = self.config.lock_time * 1000  # a forged lock end is cut to lock_time
        for key, left, failures in zip(keys, pairs[::2], pairs[1::2], strict=False):
            remaining = min(left, longest)
            if remaining > 0:
                self._known[key] = (now + remaining / 1000, failures)
                found = found or (remaining / 1000, failures)
            else:
                self._known.pop(key, None)  # unlocked meanwhile (or expired)
        return found

    def _fallback_lock(
        self, user: str, address: str, locks: list[str], also: tuple[str | None, ...],
        refuse: bool = True,
    ) -> Lock | None:  # fmt: skip
        if self.when_down == "closed" and refuse:
            raise ThrottleClosed("state engine down and state.throttle_when_down is closed")
        if self.when_down == "known_locks":
            now = time.monotonic()
            for key in locks:
                end, failures = self._known.get(key, (0.0, 0))
                if end > now:
                    return end - now, failures
        return self.local.locked(user, address, also)
