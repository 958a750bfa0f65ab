"""The RSA key pair used by caching_sha2_password and sha256_password without TLS."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
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
    """Load the pair; on first start generate it and save it (private key mode 0600).

    Each file is written under a temporary name and linked into place, so no one reads a
    half-written key, and two bridges starting together with the same new paths agree:
    the one whose link comes second loads the key the first one wrote."""
    try:
        pair = load(private_path)
    except FileNotFoundError:
        pair = generate()
        if _place(private_path, _private_pem(pair), 0o600, replace=False):
            log.info("generated RSA key pair %s, %s", private_path, public_path)
            _place(public_path, pair.public_pem, 0o644, replace=True)  # an older one: stale
            return pair
        pair = load(private_path)  # another process was first: its key, for all
    if not public_path.exists():  # derived from the private key: anyone may write it
        try:
            _place(public_path, pair.public_pem, 0o644, replace=False)
        except OSError as exc:
            log.warning("cannot write the RSA public key %s: %s", public_path, exc)
    return pair


def _private_pem(pair: RsaKeyPair) -> bytes:
    return pair.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _place(path: Path, data: bytes, mode: int, replace: bool) -> bool:
    """Write `data` to a temporary file beside `path`, then put it in place at once:
    over what is there (`replace`), or only if nothing is (False when something was)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
