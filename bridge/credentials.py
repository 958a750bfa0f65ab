"""Credentials: what a wire method proved, as types. Secret fields stay out of repr."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ClearPassword:
    password: bytes = field(repr=False)

    @property
    def used_password(self) -> bool:
        return bool(self.password)


@dataclass(frozen=True, slots=True)
class NativeScramble:
    """A mysql_native_password answer to `nonce`."""

    nonce: bytes = field(repr=False)
    token: bytes = field(repr=False)

    @property
    def used_password(self) -> bool:
        return bool(self.token)


@dataclass(frozen=True, slots=True)
class Sha2Scramble:
    """A caching_sha2_password fast-auth answer to `nonce`."""

    nonce: bytes = field(repr=False)
    token: bytes = field(repr=False)

    @property
    def used_password(self) -> bool:
        return bool(self.token)


Credential = ClearPassword | NativeScramble | Sha2Scramble
