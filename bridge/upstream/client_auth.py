"""Client-side authentication plugins: how the bridge answers the upstream server.

Each plugin instance holds one login's password and nonce. `first()` is the answer in the
HandshakeResponse (or after an AuthSwitchRequest); `more(data)` answers an AuthMoreData and
returns None when no answer is due (caching_sha2's fast_auth_success).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bridge import ed25519
from bridge.protocol.constants import SCRAMBLE_LENGTH
from bridge.scramble import native_token, sha2_token, xor_with_scramble


class UpstreamAuthError(Exception):
    """The upstream asked for something this login cannot answer."""


class ClientPlugin(Protocol):
    def first(self) -> bytes: ...
    def more(self, data: bytes) -> bytes | None: ...


def rsa_encrypt(password: bytes, nonce: bytes, pem: bytes) -> bytes:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise UpstreamAuthError("upstream sent a public key that is not RSA")
    sha1 = hashes.SHA1()  # noqa: S303 - OAEP with SHA-1 is fixed by the protocol
    oaep = padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None)
    return key.encrypt(xor_with_scramble(password + b"\0", nonce), oaep)


@dataclass
class _Login:
    password: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    secure: bool
    # How much of the server's plugin data is the nonce: the scramble methods take 20
    # bytes (MySQL and MariaDB add a NUL after them).
    nonce_length = SCRAMBLE_LENGTH

    def first(self) -> bytes:
        raise NotImplementedError

    def more(self, data: bytes) -> bytes | None:
        raise NotImplementedError


class NativeClient(_Login):
    def first(self) -> bytes:
        return native_token(self.password, self.nonce)

    def more(self, data: bytes) -> bytes | None:
        raise UpstreamAuthError("mysql_native_password takes no further data")


class CachingSha2Client(_Login):
    def first(self) -> bytes:
        return sha2_token(self.password, self.nonce)

    def more(self, data: bytes) -> bytes | None:
        if data == b"\x03":  # fast_auth_success: OK follows
            return None
        if data == b"\x04":  # perform_full_authentication
            return self.password + b"\0" if self.secure else b"\x02"
        if data.startswith(b"-----BEGIN"):
            return rsa_encrypt(self.password, self.nonce, data)
        raise UpstreamAuthError("unexpected caching_sha2_password data from upstream")


class Sha256Client(_Login):
    def first(self) -> bytes:
        if not self.password:
            return b"\0"
        return self.password + b"\0" if self.secure else b"\x01"

    def more(self, data: bytes) -> bytes | None:
        if data.startswith(b"-----BEGIN"):
            return rsa_encrypt(self.password, self.nonce, data)
        raise UpstreamAuthError("unexpected sha256_password data from upstream")


class ClearClient(_Login):
    def first(self) -> bytes:
        if not self.secure:
            raise UpstreamAuthError("upstream asked for a clear-text password without TLS")
        return self.password + b"\0"

    def more(self, data: bytes) -> bytes | None:
        raise UpstreamAuthError("mysql_clear_password takes no further data")


class Ed25519Client(_Login):
    """MariaDB's client_ed25519: sign the server's 32-byte nonce with the password."""

    nonce_length = ed25519.NONCE_LENGTH

    def first(self) -> bytes:
        if len(self.nonce) != ed25519.NONCE_LENGTH:
            raise UpstreamAuthError("upstream sent a client_ed25519 nonce that is not 32 bytes")
        return ed25519.sign(self.password, self.nonce)

    def more(self, data: bytes) -> bytes | None:
        raise UpstreamAuthError("client_ed25519 takes no further data")


CLIENT_PLUGINS: dict[str, type[_Login]] = {
    "mysql_native_password": NativeClient,
    "caching_sha2_password": CachingSha2Client,
    "sha256_password": Sha256Client,
    "mysql_clear_password": ClearClient,
    "client_ed25519": Ed25519Client,
}


def client_plugin(name: str, password: bytes, nonce: bytes, secure: bool) -> ClientPlugin:
    cls = CLIENT_PLUGINS.get(name)
    if cls is None:
        raise UpstreamAuthError(f"upstream asked for unsupported plugin {name!r}")
    return cls(password, nonce[: cls.nonce_length], secure)
