"""MariaDB's ed25519 authentication: Ed25519 keyed by a password instead of a seed.

RFC 8032 derives the key from SHA-512 of a 32-byte seed; MariaDB's auth_ed25519 takes
SHA-512 of the password itself (any length). The rest is standard Ed25519:

    az = SHA-512(password); a = clamp(az[0:32]); A = a*B          (the stored public key)
    r = SHA-512(az[32:64] || M) mod L; R = r*B
    S = r + SHA-512(R || A || M) * a mod L                        (the signature is R || S)

so a signature is checked with plain Ed25519 (cryptography's Ed25519PublicKey). Making the
key and signing need the steps above, which no high-level Ed25519 API offers (they all take
a seed): they are put together from libsodium's scalar and point operations through PyNaCl's
low-level bindings, so that the curve arithmetic is libsodium's audited constant-time code
and none of it is ours.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import (
    crypto_core_ed25519_scalar_add,
    crypto_core_ed25519_scalar_mul,
    crypto_core_ed25519_scalar_reduce,
    crypto_scalarmult_ed25519_base_noclamp,
)

KEY_LENGTH = 32
SIGNATURE_LENGTH = 64
NONCE_LENGTH = 32  # what MariaDB's server plugin sends and its client plugin signs


def _clamp(scalar: bytes) -> bytes:
    clamped = bytearray(scalar)
    clamped[0] &= 248
    clamped[31] &= 127
    clamped[31] |= 64
    return bytes(clamped)


def _reduce(value: bytes) -> bytes:
    """A 64-byte little-endian number (or a shorter one, zero-padded) modulo L."""
    return crypto_core_ed25519_scalar_reduce(value.ljust(64, b"\0"))


def _expand(password: bytes) -> tuple[bytes, bytes]:
    az = hashlib.sha512(password).digest()
    return _clamp(az[:32]), az[32:]


def public_key(password: bytes) -> bytes:
    """The 32-byte key MariaDB stores (base64) for an ed25519 account with this password."""
    scalar, _prefix = _expand(password)
    return crypto_scalarmult_ed25519_base_noclamp(scalar)


def sign(password: bytes, message: bytes) -> bytes:
    """What MariaDB's client_ed25519 answers to `message` (the server's nonce)."""
    scalar, prefix = _expand(password)
    key = crypto_scalarmult_ed25519_base_noclamp(scalar)
    r = _reduce(hashlib.sha512(prefix + message).digest())
    big_r = crypto_scalarmult_ed25519_base_noclamp(r)
    k = _reduce(hashlib.sha512(big_r + key + message).digest())
    s = crypto_core_ed25519_scalar_add(crypto_core_ed25519_scalar_mul(k, _reduce(scalar)), r)
    return big_r + s


def verify(key: bytes, signature: bytes, message: bytes) -> bool:
    """Plain Ed25519 verification; False for any malformed key or signature."""
    if len(key) != KEY_LENGTH or len(signature) != SIGNATURE_LENGTH:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
