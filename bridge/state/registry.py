"""The session registry for KILL on the state engine: bridge connection id -> upstream thread
id, readable by every worker and instance (docs/scaling.md).

Connection ids are unique across instances by construction: each process claims an
instance slot (1..4095) with SET NX, and its ids are `slot << 20 | n`. The slot key lives
15 s and the process renews it every 5 s, with its sessions hash
(`<prefix>sessions:<slot>`: id -> `<upstream thread id>:<owner digest, hex>:<seal, hex>`;
the digest is keyed with the state key file's secret, so every instance computes the same
one and the engine holds no user name; the seal is an HMAC of the id, the thread id and the
digest under a key derived from the same secret, so whoever can write to the engine but has
not the key file can neither point an id at another thread nor move an entry, with its
owner's digest, to another id). A process that dies lets both expire,
so a stale entry never sends a KILL for a thread id the upstream has reused.

Slot 0 is never claimed: a process that could not reach the engine at start hands out ids
in slot 0 (worker i of n: i+1, i+1+n, ...), which KILL finds through this process only, and
claims a slot as soon as the engine answers. If the engine lost its data (a restart without
persistence) the process claims its slot again and writes its live sessions back."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import Container
from typing import Any

from bridge.registry import OWNER_SIZE, Entry, LocalRegistry, owner_digest
from bridge.state.engine import Engine, StateUnavailable

log = logging.getLogger("bridge.state")
SLOT_BITS = 20
SLOTS = 1 << (32 - SLOT_BITS)  # 4096: slot 0 is the unshared one
LOW_MASK = (1 << SLOT_BITS) - 1
HEARTBEAT = 5.0  # seconds
FLUSH_DELAY = 0.02  # seconds: registrations are written in batches; a session shorter than
# this never reaches the engine
SLOT_TTL_MS = 15_000

# KEYS: the slot key, the sessions hash; ARGV: our token, ttl -> 1 if still ours
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

# KEYS: the slot key, the sessions hash; ARGV: the bridge id -> its entry, or false
# when the slot is no longer held (its entries would be stale)
LOOKUP = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
return redis.call('HGET', KEYS[2], ARGV[1])
"""
MAX_THREAD_ID = 0xFFFFFFFF  # COM_PROCESS_KILL carries 4 bytes
SEAL_HEX = 32  # hex digits of an entry's seal (128 bits)


class SlotIds:
    """Connection ids in this process's slot: 32-bit, never 0, never one in use."""

    def __init__(self, worker: int = 0, workers: int = 1) -> None:
        self.slot = 0
        self.first, self.step = worker + 1, workers
        self._next = self.first

    def take(self, in_use: Container[int]) -> int:
        while True:
            low = self._next
            self._next += self.step
            if self._next > LOW_MASK:
                self._next = self.first
            candidate = (self.slot << SLOT_BITS) | low
            if candidate not in in_use:
                return candidate


class RedisRegistry:
    def __init__(self, engine: Engine, ids: SlotIds, secret: bytes = b"") -> None:
        """`secret`: the state key file's (the same in every instance), keys the owner
        digests."""
        self.engine = engine
        self.ids = ids
        self._key = hmac.new(secret, b"mysql-auth-bridge kill owner", hashlib.sha256).digest()
        self._seal_key = hmac.new(secret, b"mysql-auth-bridge kill entry", hashlib.sha256).digest()
        self.local = LocalRegistry(self._key)
        self.token = secrets.token_hex(16)
        self._missed = False  # a write failed: the hash is rewritten at the next heartbeat
        self._pending: dict[int, str | None] = {}  # id -> entry to write, None: to delete
        self._written: set[int] = set()  # ids the engine has
        self._inflight: set[int] = set()  # ids in the batch being written
        self._flusher: asyncio.Task[None] | None = None
        self._renew = engine.client.register_script(RENEW)
        self._lookup = engine.client.register_script(LOOKUP)

    @property
    def slot(self) -> int:
        return self.ids.slot

    def _slot_key(self, slot: int) -> str:
        return f"{self.engine.prefix}slot:{slot}"

    def _sessions_key(self, slot: int) -> str:
        return f"{self.engine.prefix}sessions:{slot}"

    # --- SessionRegistry --------------------------------------------------------------------

    def add(self, bridge_id: int, upstream_id: int, owner: bytes = b"") -> bool:
        self.local.add(bridge_id, upstream_id, owner)
        if self._shared(bridge_id):
            self._pending[bridge_id] = self._stored(bridge_id, Entry(upstream_id, owner))
            self._schedule()
        return True

    def owner(self, login: str, identity: str) -> bytes:
        return owner_digest(self._key, login, identity)

    def remove(self, bridge_id: int) -> None:
        if bridge_id not in self.local:
            return
        self.local.remove(bridge_id)
        if bridge_id in self._written or bridge_id in self._inflight:
            self._pending[bridge_id] = None
            self._schedule()
        else:
            self._pending.pop(bridge_id, None)  # never written: nothing to delete

    def find(self, bridge_id: int) -> Entry | None:
        return self.local.find(bridge_id)

    def upstream_id(self, bridge_id: int) -> int | None:
        return self.local.upstream_id(bridge_id)

    def __contains__(self, bridge_id: object) -> bool:
        return bridge_id in self.local

    # --- other processes' sessions ----------------------------------------------------------

    async def remote_upstream_id(self, bridge_id: int) -> int | None:
        """The upstream thread id of a session another process holds, or None."""
        entry = await self.remote_find(bridge_id)
        return entry.thread if entry is not None else None

    async def remote_find(self, bridge_id: int) -> Entry | None:
        """A session another process holds, or None."""
        slot = bridge_id >> SLOT_BITS
        if not 0 < bridge_id <= 0xFFFFFFFF or slot in (0, self.slot):
            return None
        keys = [self._slot_key(slot), self._sessions_key(slot)]
        try:
            found = await self.engine.run(
                lambda c: self._lookup(keys=keys, args=[str(bridge_id)], client=c)
            )
        except StateUnavailable:
            return None
        entry = _entry(found)
        if entry is not None and not self._sealed(bridge_id, entry, found):
            log.warning("state: the KILL registry entry for connection id %d was not written "
                        "by a bridge (its seal does not match): ignored", bridge_id)  # fmt: skip
            return None
        return entry

    def _sealed(self, bridge_id: int, entry: Entry, found: object) -> bool:
        """Is `found` the entry a bridge wrote for this id?"""
        expected = self._stored(bridge_id, entry).encode()
        return isinstance(found, bytes) and hmac.compare_digest(expected, found)

    def _stored(self, bridge_id: int, entry: Entry) -> str:
        """An entry as the engine keeps it, sealed to its id."""
        text = f"{entry.thread}:{entry.owner.hex()}"
        seal = hmac.new(self._seal_key, f"{bridge_id}:{text}".encode(), hashlib.sha256)
        return f"{text}:{seal.hexdigest()[:SEAL_HEX]}"

    # --- the slot ---------------------------------------------------------------------------

    async def claim(self) -> bool:
        """Claim a free slot (the one held before, if it is still free); write back the
        live sessions of that slot."""
        try:
            slot = await self.engine.run(self._claim_any)
        except StateUnavailable:
            return False
        if slot is None:
            log.warning("state: no free instance slot; KILL finds this process's sessions "
                        "through this process only")  # fmt: skip
            return False
        if slot != self.ids.slot:
            log.info("state: instance slot %d (connection ids from %d)", slot, slot << SLOT_BITS)
        self.ids.slot = slot
        await self._write_back()
        return True

    async def _claim_any(self, client: Any) -> int | None:
        first = self.ids.slot
        if not first:  # spread the instances over the slots
            first = int(await client.incr(f"{self.engine.prefix}slot-seq")) % (SLOTS - 1) + 1
        for i in range(SLOTS - 1):
            slot = (first - 1 + i) % (SLOTS - 1) + 1
            if await client.set(self._slot_key(slot), self.token, nx=True, px=SLOT_TTL_MS):
                return slot
            if (await client.get(self._slot_key(slot))) == self.token.encode():
                return slot
        return None

    async def _write_back(self) -> None:
        """The slot's sessions hash made equal to this process's live sessions."""
        live = {str(i): self._stored(i, e) for i, e in self.local.items()
                if i >> SLOT_BITS == self.slot}  # fmt: skip
        key = self._sessions_key(self.slot)

        async def rewrite(client: Any) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if live:
                    pipe.hset(key, mapping=live)
                    pipe.pexpire(key, SLOT_TTL_MS)
                await pipe.execute()

        try:
            await self.engine.run(rewrite)
        except StateUnavailable:
            self._missed = True
            return
        self._missed = False
        self._written = {int(i) for i in live}
        self._pending.clear()

    async def renew(self) -> None:
        """One heartbeat: renew the slot (or claim one)."""
        if self.slot == 0:
            await self.claim()
            return
        keys = [self._slot_key(self.slot), self._sessions_key(self.slot)]
        try:
            ours = await self.engine.run(
                lambda c: self._renew(keys=keys, args=[self.token, SLOT_TTL_MS], client=c)
            )
        except StateUnavailable:
            return
        if ours and self._missed:
            await self._write_back()
        if not ours:
            log.warning("state: instance slot %d was lost (engine restarted or unreachable "
                        "too long); claiming it again", self.slot)  # fmt: skip
            await self.claim()

    async def heartbeat(self) -> None:
        while True:
            await self.renew()
            await asyncio.sleep(HEARTBEAT)

    async def release(self) -> None:
        """At shutdown: give the slot and its sessions back at once."""
        if self._flusher is not None:
            self._flusher.cancel()
        if self.slot == 0:
            return
        keys = [self._slot_key(self.slot), self._sessions_key(self.slot)]
        with contextlib.suppress(StateUnavailable):
            await self.engine.run(lambda c: c.delete(*keys))

    def _shared(self, bridge_id: int) -> bool:
        return self.slot != 0 and bridge_id >> SLOT_BITS == self.slot

    def _schedule(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Write what changed in the last FLUSH_DELAY seconds, in one round trip."""
        await asyncio.sleep(FLUSH_DELAY)
        batch, self._pending = self._pending, {}
        adds = {str(i): t for i, t in batch.items() if t is not None}
        gone = [str(i) for i, t in batch.items() if t is None]
        key = self._sessions_key(self.slot)
        self._inflight = {int(i) for i in adds}

        async def write(client: Any) -> None:
            async with client.pipeline(transaction=False) as pipe:
                if adds:
                    pipe.hset(key, mapping=adds)
                    pipe.pexpire(key, SLOT_TTL_MS)  # the hash may be new: it expires too
                if gone:
                    pipe.hdel(key, *gone)
                await pipe.execute()

        try:
            await self.engine.run(write)
        except StateUnavailable:
            self._missed = True  # rewritten at the first heartbeat after the outage
        else:
            self._written |= {int(i) for i in adds}
            self._written -= {int(i) for i in gone}
        self._inflight = set()
        if self._pending:  # what came in while this batch was being written
            self._flusher = asyncio.get_running_loop().create_task(self._flush())


def _entry(found: object) -> Entry | None:
    """An entry read from the engine, or None (KILL then answers "unknown thread", ERROR
    1094) when it is missing or its thread id is not one: digits only, 0 < id < 2**32. An
    owner that is not a digest (an entry an older bridge wrote: no owner) is not known."""
    if not isinstance(found, bytes):
        return None
    thread_part, _, rest = found.partition(b":")
    owner_part = rest.partition(b":")[0]
    if not thread_part.isdigit() or len(thread_part) > 10:
        return None
    thread = int(thread_part)
    if not 0 < thread <= MAX_THREAD_ID:
        return None
    try:
        owner = bytes.fromhex(owner_part.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        owner = b""
    return Entry(thread, owner if len(owner) == OWNER_SIZE else b"")
