"""Receiving a password the way caching_sha2_password and sha256_password do: in clear
over TLS or a Unix socket, otherwise RSA-OAEP encrypted after XOR with the nonce, with the
public key sent on request."""

from __future__ import annotations

from bridge.credentials import ClearPassword, Credential
from bridge.errors import Denied
from bridge.scramble import xor_with_scramble
from bridge.wire.base import RECEIVE, Send, WireContext, WireRun, strip_nul


def decrypt_password(ctx: WireContext, ciphertext: bytes) -> ClearPassword:
    plain = xor_with_scramble(ctx.rsa.decrypt(ciphertext), ctx.nonce)
    if not plain.endswith(b"\0"):
        raise Denied("RSA-encrypted password without its terminating NUL")
    return ClearPassword(plain[:-1])


def password_from(ctx: WireContext, reply: bytes, key_request: bytes) -> WireRun:
    """Turn the client's reply into a ClearPassword, sending the public key if asked."""
    if reply == key_request:
        yield Send(ctx.rsa.public_pem)
        reply = yield RECEIVE
        credential: Credential = decrypt_password(ctx, reply)
        return credential
    if ctx.secure:
        return ClearPassword(strip_nul(reply))
    if len(reply) != ctx.rsa.size_bytes:  # (the log's reason only: the client sees 1045)
        raise Denied(
            f"not RSA-encrypted with this key ({len(reply)} bytes, not {ctx.rsa.size_bytes}) "
            "on a connection without TLS: a password sent in clear (Connector/Python does) "
            "or encrypted with another key, refused as mysqld refuses it"
        )
    return decrypt_password(ctx, reply)
