"""Stored password hashes in MySQL's own formats.

- mysql_native_password: '*' + 40 upper-case hex digits of SHA1(SHA1(password)).
- caching_sha2_password / sha256_password: '$A$' + 3 hex digits (rounds / 1000) + '$' +
  20 salt bytes + 43 characters of SHA-256-crypt output (Drepper's algorithm, with MySQL's
  20-byte salt instead of crypt's 16-character limit).
- ed25519 (MariaDB): the 32-byte Ed25519 public key in base64 without padding, 43
  characters, as mysql.global_priv keeps it. An empty one is MariaDB's PASSWORD(''): no
  password matches it (MariaDB 10.11 refuses every login to such an account).
- '' (empty): an account without a password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge import ed25519
from bridge.scramble import native_stage2, sha2_digest2

_B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SALT_LENGTH = 20
ROUNDS_MULTIPLIER = 1000
DEFAULT_ITERATIONS = 5  # '005': 5000 rounds, MySQL's default
_SALT_ALPHABET = (_B64[2:] + "!#%&()*+,-.:;<=>?@[]^_{|}~").encode()  # no '$', quotes or '\\'


class HashFormatError(ValueError):
    """An authentication_string that is not a hash of the plugin's format."""


@dataclass(frozen=True, slots=True)
class EmptyHash:
    """An account with no password: only an empty password matches."""

    def matches(self, password: bytes) -> bool:
        return not password


@dataclass(frozen=True, slots=True)
class NativeHash:
    stage2: bytes = field(repr=False)  # SHA1(SHA1(password))

    def matches(self, password: bytes) -> bool:
        return bool(password) and hmac.compare_digest(native_stage2(password), self.stage2)

    def text(self) -> str:
        return "*" + self.stage2.hex().upper()


@dataclass(frozen=True, slots=True)
class Sha2CryptHash:
    iterations: int
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)  # the 43 crypt characters

    def matches(self, password: bytes) -> bool:
        computed = sha256_crypt(password, self.salt, self.iterations * ROUNDS_MULTIPLIER)
        return bool(password) and hmac.compare_digest(computed, self.digest)

    def raw(self) -> bytes:
        return b"$A$%03X$" % self.iterations + self.salt + self.digest


@dataclass(frozen=True, slots=True)
class Ed25519Key:
    public_key: bytes  # b'' for MariaDB's empty ed25519 string: nothing matches

    def matches(self, password: bytes) -> bool:
        if not self.public_key:
            return False
        return hmac.compare_digest(ed25519.public_key(password), self.public_key)

    def verifies(self, signature: bytes, nonce: bytes) -> bool:
        return bool(self.public_key) and ed25519.verify(self.public_key, signature, nonce)

    def text(self) -> str:
        return base64.b64encode(self.public_key).decode("ascii").rstrip("=")


StoredHash = EmptyHash | NativeHash | Sha2CryptHash | Ed25519Key


def parse_native(text: bytes) -> NativeHash | EmptyHash:
    if not text:
        return EmptyHash()
    if len(text) != 41 or text[:1] != b"*":
        raise HashFormatError("a mysql_native_password hash is '*' and 40 hex digits")
    try:
        return NativeHash(bytes.fromhex(text[1:].decode("ascii")))
    except ValueError as exc:
        raise HashFormatError("a mysql_native_password hash is '*' and 40 hex digits") from exc


def parse_sha2(raw: bytes) -> Sha2CryptHash | EmptyHash:
    if not raw:
        return EmptyHash()
    if len(raw) != 7 + SALT_LENGTH + 43 or raw[:3] != b"$A$" or raw[6:7] != b"$":
        raise HashFormatError(
            "a caching_sha2_password hash is '$A$NNN$' + 20 salt bytes + 43 characters"
        )
    try:
        iterations = int(raw[3:6].decode("ascii"), 16)
    except ValueError as exc:
        raise HashFormatError("the iteration field of a '$A$' hash is 3 hex digits") from exc
    if iterations < 1:
        raise HashFormatError("the iteration field of a '$A$' hash must be at least 001")
    return Sha2CryptHash(iterations, raw[7:27], raw[27:])


def parse_ed25519(text: bytes) -> Ed25519Key:
    if not text:
        return Ed25519Key(b"")
    message = "an ed25519 hash is 43 base64 characters (a 32-byte public key)"
    if len(text) != 43:
        raise HashFormatError(message)
    try:
        key = base64.b64decode(text + b"=", validate=True)
    except binascii.Error as exc:
        raise HashFormatError(message) from exc
    return Ed25519Key(key)


def make_native(password: bytes) -> NativeHash | EmptyHash:
    return NativeHash(native_stage2(password)) if password else EmptyHash()


def make_sha2(password: bytes, iterations: int = DEFAULT_ITERATIONS) -> Sha2CryptHash | EmptyHash:
    if not password:
        return EmptyHash()
    salt = bytes(secrets.choice(_SALT_ALPHABET) for _ in range(SALT_LENGTH))
    return Sha2CryptHash(iterations, salt, sha256_crypt(password, salt, iterations * 1000))


def make_ed25519(password: bytes) -> Ed25519Key:
    """MariaDB's PASSWORD() for ed25519: '' for an empty password, else the public key."""
    return Ed25519Key(ed25519.public_key(password) if password else b"")


# The stored form each store plugin makes from a password (hash-password, import-sql).
HASHERS: dict[str, Callable[[bytes], StoredHash]] = {
    "mysql_native_password": make_native,
    "caching_sha2_password": make_sha2,
    "sha256_password": make_sha2,
    "ed25519": make_ed25519,
}


def to_text(stored: StoredHash) -> str:
    """The authentication_string as an accounts file takes it: the hash as text when every
    byte is printable, else '0x' and hex (as SHOW CREATE USER prints binary hashes)."""
    if isinstance(stored, EmptyHash):
        return ""
    if isinstance(stored, NativeHash | Ed25519Key):
        return stored.text()
    raw = stored.raw()
    if all(0x20 < b < 0x7F and b not in b"'\"\\" for b in raw):
        return raw.decode("ascii")
    return "0x" + raw.hex().upper()


def fast_auth_digest(password: bytes) -> bytes:
    return sha2_digest2(password)


def _repeat_to(block: bytes, length: int) -> bytes:
    return (block * (length // len(block) + 1))[:length]


def _b64_triplet(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(_B64[w & 0x3F])
        w >>= 6
    return "".join(out)


# Which digest bytes make each group of four output characters (crypt's byte shuffle).
_PERMUTATION = (
    (0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
    (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29),
)  # fmt: skip


def _crypt_b64(alt: bytes) -> bytes:
    text = "".join(_b64_triplet(alt[a], alt[b], alt[c], 4) for a, b, c in _PERMUTATION)
    return (text + _b64_triplet(0, alt[31], alt[30], 3)).encode()


def sha256_crypt(password: bytes, salt: bytes, rounds: int) -> bytes:
    """SHA-256-crypt (Ulrich Drepper's specification), any salt length, 43-char result."""
    sha = hashlib.sha256
    alternate = sha(password + salt + password).digest()
    a = sha(password + salt)
    a.update(_repeat_to(alternate, len(password)))
    n = len(password)
    while n:
        a.update(alternate if n & 1 else password)
        n >>= 1
    c = a.digest()
    p = _repeat_to(sha(password * len(password)).digest(), len(password))
    s = _repeat_to(sha(salt * (16 + c[0])).digest(), len(salt))
    for r in range(rounds):
        h = sha(p if r & 1 else c)
        if r % 3:
            h.update(s)
        if r % 7:
            h.update(p)
        h.update(c if r & 1 else p)
        c = h.digest()
    return _crypt_b64(c)
