"""Challenge-response arithmetic of mysql_native_password and caching_sha2_password.

Both sides are here: the client side (what the bridge sends upstream) and the server side
(checking what a client sent against what is stored). Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac


def _xor(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise ValueError("XOR of unequal lengths")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# mysql_native_password: token = SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))


def native_stage2(password: bytes) -> bytes:
    return sha1(sha1(password))


def native_token(password: bytes, nonce: bytes) -> bytes:
    """The client's answer; an empty password answers with no bytes at all."""
    if not password:
        return b""
    stage1 = sha1(password)
    return _xor(stage1, sha1(nonce[:20] + sha1(stage1)))


def check_native_token(token: bytes, nonce: bytes, stage2: bytes) -> bool:
    """True if `token` proves knowledge of the password whose SHA1(SHA1()) is `stage2`."""
    if len(token) != 20 or len(stage2) != 20:
        return False
    candidate_stage1 = _xor(token, sha1(nonce[:20] + stage2))
    return hmac.compare_digest(sha1(candidate_stage1), stage2)


# caching_sha2_password: token = SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)


def sha2_digest2(password: bytes) -> bytes:
    """SHA256(SHA256(pw)): what the fast-auth cache keeps."""
    return sha256(sha256(password))


def sha2_token(password: bytes, nonce: bytes) -> bytes:
    if not password:
        return b""
    stage1 = sha256(password)
    return _xor(stage1, sha256(sha256(stage1) + nonce))


def check_sha2_token(token: bytes, nonce: bytes, digest2: bytes) -> bool:
    if len(token) != 32 or len(digest2) != 32:
        return False
    candidate_stage1 = _xor(token, sha256(digest2 + nonce))
    return hmac.compare_digest(sha256(candidate_stage1), digest2)


def xor_with_scramble(data: bytes, nonce: bytes) -> bytes:
    """The RSA plaintext rule: (password + NUL) XOR nonce, the nonce repeated as needed."""
    return bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(data))
