"""The caching_sha2_password fast-auth cache: SHA256(SHA256(password)) of an account row,
kept after a full authentication so that the next login of that row can be a scramble.

- MemoryFastAuth: this process's dict, keyed by the row and its stored hash (a changed hash
  misses), as mysqld keeps it.
- RedisFastAuth: shared by every bridge holding the same key file. The digest is a cheap
  unsalted hash of the password, so it is stored sealed: AES-256-GCM under a key derived
  from `state.fast_auth_key_file`, with the row (user, host) and the row's stored hash as
  associated data, so a value moved to another row's key, or read back after the row's hash
  changed, does not open (and is deleted). The value's end is sealed with the digest: an
  entry kept past `state.fast_auth_ttl` (PERSIST) does not open either. The Redis key name
  is an HMAC of the row under another derived key: a reader learns neither the names nor
  the digests. Each lookup before the exchange asks Redis, so that its time does not tell
  whether the user logged in lately; what a process saw, it also keeps in memory for as
  long, and uses while the engine is down (otherwise a miss: the client
  does a full authentication)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bridge.config import ConfigError, check_private
from bridge.mapping.accounts import AccountRow
from bridge.state.engine import Engine, StateDataError, StateUnavailable

KEY_BYTES = 32  # what `head -c 32 /dev/urandom` writes; at least this much is required
NONCE_BYTES = 12
DIGEST_BYTES = 32
EXPIRY_BYTES = 8  # unix milliseconds, before the digest in the sealed text
MAX_LOCAL = 100_000  # entries a process keeps in memory; beyond, the oldest go

CacheKey = tuple[str, str, bytes]


class FastAuthCache(Protocol):
    async def get(self, row: AccountRow, proven: bool = False) -> bytes | None:
        """The cached digest of this row (with its current stored hash), or None.
        `proven`: the client already answered with this digest (the check after the
        exchange), so what this process remembers may serve without asking again."""

    async def put(self, row: AccountRow, digest: bytes) -> None: ...


def _key(row: AccountRow) -> CacheKey:
    return (row.user, row.host, row.authentication_string)


class MemoryFastAuth:
    def __init__(self) -> None:
        self._digests: dict[CacheKey, bytes] = {}

    async def get(self, row: AccountRow, proven: bool = False) -> bytes | None:
        return self._digests.get(_key(row))

    async def put(self, row: AccountRow, digest: bytes) -> None:
        self._digests[_key(row)] = digest


def read_key_file(path: Path) -> bytes:
    """The shared secret of the bridges: a secrets file of at least 32 bytes, used as they
    are (the HKDF input, no decoding), so they must be random (docs/configuration.md)."""
    check_private(path)
    secret = path.read_bytes()
    if len(secret) < KEY_BYTES:
        raise ConfigError(
            f"{path}: state.fast_auth_key_file holds {len(secret)} bytes; it needs at least "
            f"{KEY_BYTES} random bytes (head -c 32 /dev/urandom > {path.name}; chmod 600)"
        )
    return secret


def derive_key(secret: bytes, purpose: bytes) -> bytes:
    kdf = HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=b"mysql-auth-bridge " + purpose)
    return kdf.derive(secret)


def _joined(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _account(row: AccountRow) -> bytes:
    return _joined(row.user.encode("utf-8", "surrogatepass"),
                   row.host.encode("utf-8", "surrogatepass"))  # fmt: skip


def associated_data(row: AccountRow) -> bytes:
    """What a sealed value is bound to: the row and its stored hash, unambiguously joined."""
    return _joined(_account(row), row.authentication_string)


class Sealer:
    """AES-GCM sealing and the keyed names, from the key file's secret."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(derive_key(secret, b"fast-auth seal"))
        self._names = derive_key(secret, b"fast-auth name")

    def __repr__(self) -> str:
        return "Sealer(...)"

    def name(self, row: AccountRow) -> str:
        return hmac.new(self._names, _account(row), hashlib.sha256).hexdigest()

    def seal(self, row: AccountRow, digest: bytes, ttl: float) -> bytes:
        """The digest and its end (unix ms) sealed together: a value kept past its TTL
        (PERSIST) does not open."""
        expiry = int((time.time() + ttl) * 1000).to_bytes(EXPIRY_BYTES, "big")
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, expiry + digest, associated_data(row))

    def open(self, row: AccountRow, sealed: bytes) -> bytes | None:
        try:
            text = self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                      associated_data(row))  # fmt: skip
        except (InvalidTag, ValueError):
            return None
        if len(text) != EXPIRY_BYTES + DIGEST_BYTES:
            return None
        if int.from_bytes(text[:EXPIRY_BYTES], "big") <= time.time() * 1000:
            return None
        return text[EXPIRY_BYTES:]


class RedisFastAuth:
    def __init__(self, engine: Engine, secret: bytes, ttl: float) -> None:
        self.engine = engine
        self.sealer = Sealer(secret)
        self.ttl = ttl
        self._local: dict[CacheKey, tuple[float, bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _redis_key(self, row: AccountRow) -> str:
        return f"{self.engine.prefix}fa:{self.sealer.name(row)}"

    async def get(self, row: AccountRow, proven: bool = False) -> bytes | None:
        """Before the exchange every lookup asks Redis, hit or miss, so the time to answer
        does not tell whether this user logged in here lately. While Redis is down, what
        this process remembers serves (every lookup then fails as fast)."""
        if proven:
            return self._recalled(row)
        name = self._redis_key(row)
        try:
            sealed = await self.engine.run(lambda client: client.get(name))
        except StateDataError:  # not a value a bridge wrote: drop it, a miss
            self._forget(name)
            return None
        except StateUnavailable:
            return self._recalled(row)
        if not isinstance(sealed, bytes):
            return None
        digest = self.sealer.open(row, sealed)
        if digest is None:  # another hash (a changed password) or not ours: drop it
            self._forget(name)
            return None
        self._remember(row, digest)
        return digest

    def _recalled(self, row: AccountRow) -> bytes | None:
        hit = self._local.get(_key(row))
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    async def put(self, row: AccountRow, digest: bytes) -> None:
        self._remember(row, digest)
        sealed, name = self.sealer.seal(row, digest, self.ttl), self._redis_key(row)
        ttl_ms = int(self.ttl * 1000)

        async def store(client: Any) -> None:
            await client.set(name, sealed, px=ttl_ms)

        with contextlib.suppress(StateUnavailable):  # else: the others do a full authentication
            await self.engine.run(store)

    def _remember(self, row: AccountRow, digest: bytes) -> None:
        if len(self._local) >= MAX_LOCAL:
            now = time.monotonic()
            self._local = {k: v for k, v in self._local.items() if v[0] > now}
            if len(self._local) >= MAX_LOCAL:
                self._local.clear()
        self._local[_key(row)] = (time.monotonic() + self.ttl, digest)

    def _forget(self, name: str) -> None:
        """Delete a stale entry, in the background (the login does not wait for it)."""

        async def forget() -> None:
            with contextlib.suppress(StateUnavailable):
                await self.engine.run(lambda client: client.delete(name))

        task = asyncio.get_running_loop().create_task(forget())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
