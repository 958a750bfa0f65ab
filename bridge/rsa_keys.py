"""The RSA key pair used by caching_sha2_password and sha256_password without TLS."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bridge.errors import Denied

log = logging.getLogger(__name__)
# SHA-1 in OAEP is what mysqld and every client use for these plugins: the protocol fixes it.
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303


@dataclass(frozen=True)
class RsaKeyPair:
    private_key: rsa.RSAPrivateKey = field(repr=False)
    public_pem: bytes

    @property
    def size_bytes(self) -> int:
        return self.private_key.key_size // 8

    def decrypt(self, ciphertext: bytes) -> bytes:
        """RSA-OAEP (SHA-1) as mysqld uses it; a bad ciphertext is a denial, not a crash."""
        if len(ciphertext) != self.size_bytes:
            raise Denied("RSA ciphertext of the wrong length")
        try:
            return self.private_key.decrypt(ciphertext, _OAEP)
        except ValueError as exc:
            raise Denied("RSA decryption failed") from exc


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate() -> RsaKeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return RsaKeyPair(key, _public_pem(key))


def load(private_path: Path) -> RsaKeyPair:
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{private_path}: not an RSA private key")
    return RsaKeyPair(key, _public_pem(key))


def load_or_generate(private_path: Path, public_path: Path) -> RsaKeyPair:
    """Load the pair; generate and save it (private key mode 0600) on first start."""
    if private_path.exists():
        return load(private_path)
    pair = generate()
    pem = pair.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(pair.public_pem)
    log.info("generated RSA key pair %s, %s", private_path, public_path)
    return pair
