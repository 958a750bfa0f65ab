"""The built-in hash store: native ('*' + SHA1 hex) and SHA-2 ('$A$005$') hashes in the
account rows, with caching_sha2_password's fast-auth cache (in memory, or shared through
the state engine: bridge/state/fastauth.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import lru_cache

from bridge.credentials import (
    ClearPassword,
    Credential,
    Ed25519Signature,
    NativeScramble,
    Sha2Scramble,
)
from bridge.errors import Denied
from bridge.hashing import (
    Ed25519Key,
    EmptyHash,
    NativeHash,
    Sha2CryptHash,
    StoredHash,
    fast_auth_digest,
    parse_ed25519,
    parse_native,
    parse_sha2,
)
from bridge.mapping.accounts import AccountRow
from bridge.scramble import check_native_token, check_sha2_token
from bridge.state.fastauth import FastAuthCache, MemoryFastAuth

from .base import Identity, Peer

# The account-row plugins whose authentication_string is a hash this store checks, and how
# each is read (raising HashFormatError); bridge/plugins.py takes its store rows from here.
HASH_PARSERS: dict[str, Callable[[bytes], StoredHash]] = {
    "mysql_native_password": parse_native,
    "caching_sha2_password": parse_sha2,
    "sha256_password": parse_sha2,
    "ed25519": parse_ed25519,  # MariaDB's: the client's plugin is client_ed25519
}


@lru_cache(maxsize=65536)
def stored_hash(plugin: str, authentication_string: bytes) -> StoredHash:
    return HASH_PARSERS[plugin](authentication_string)


class StoreBackend:
    name = "store"
    accepts: tuple[type[Credential], ...] = (
        ClearPassword,
        NativeScramble,
        Sha2Scramble,
        Ed25519Signature,
    )

    def __init__(self) -> None:
        # The row's stored hash is part of what a cached digest is bound to: a changed
        # password (after a reload) misses the cache.
        self.fast_cache: FastAuthCache = MemoryFastAuth()
        self._checks: dict[type, Callable[[Credential, AccountRow, StoredHash], object]] = {
            NativeScramble: self._check_native,
            Ed25519Signature: self._check_signature,
        }

    async def fast_digest(self, row: AccountRow, proven: bool = False) -> bytes | None:
        """The cached SHA256(SHA256(password)) of a caching_sha2_password row, or None."""
        if row.plugin != "caching_sha2_password":
            return None
        return await self.fast_cache.get(row, proven)

    async def verify(
        self, credential: Credential, user: str, row: AccountRow, peer: Peer
    ) -> Identity:
        stored = stored_hash(row.plugin, row.authentication_string)
        if isinstance(credential, ClearPassword):
            ok = await self._check_clear(credential, row, stored)
        elif isinstance(credential, Sha2Scramble):
            ok = await self._check_fast(credential, row)
        else:
            ok = bool(self._checks[type(credential)](credential, row, stored))
        if not ok:
            raise Denied("password does not match the stored hash")
        return Identity(row.user, (), self.name)

    def _check_native(self, cred: Credential, row: AccountRow, stored: StoredHash) -> bool:
        assert isinstance(cred, NativeScramble)
        if isinstance(stored, EmptyHash):
            return not cred.token
        if isinstance(stored, NativeHash):
            return check_native_token(cred.token, cred.nonce, stored.stage2)
        return False

    async def _check_fast(self, cred: Sha2Scramble, row: AccountRow) -> bool:
        digest = cred.digest  # fetched before the exchange (and matched by the wire method)
        if digest is None:
            digest = await self.fast_digest(row, proven=True)
        return digest is not None and check_sha2_token(cred.token, cred.nonce, digest)

    def _check_signature(self, cred: Credential, row: AccountRow, stored: StoredHash) -> bool:
        assert isinstance(cred, Ed25519Signature)
        return isinstance(stored, Ed25519Key) and stored.verifies(cred.signature, cred.nonce)

    async def _check_clear(self, cred: ClearPassword, row: AccountRow, stored: StoredHash) -> bool:
        if isinstance(stored, Sha2CryptHash):
            # SHA-256-crypt costs milliseconds: keep it off the event loop.
            ok = await asyncio.to_thread(stored.matches, cred.password)
            if ok and row.plugin == "caching_sha2_password":
                await self.fast_cache.put(row, fast_auth_digest(cred.password))
            return ok
        return stored.matches(cred.password)
