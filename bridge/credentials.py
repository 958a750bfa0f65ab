"""Credentials: what a wire method proved, as types. Secret fields stay out of repr."""

from __future__ import annotations

from collections.abc import Callable
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

    # the cached digest the token matched before FAST_AUTH_SUCCESS went out: the check
    # after the exchange uses this one (the cache may have dropped it meanwhile)
    digest: bytes | None = field(default=None, repr=False)

    @property
    def used_password(self) -> bool:
        return bool(self.token)


@dataclass(frozen=True, slots=True)
class Ed25519Signature:
    """A client_ed25519 answer: the client's signature of `nonce` (MariaDB's ed25519)."""

    nonce: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @property
    def used_password(self) -> bool:
        return True  # the client signs even with an empty password; mysqld says YES


@dataclass(frozen=True, slots=True)
class Conversation:
    """A live dialog with the client (MariaDB's `dialog` plugin): the backend asks, the
    client answers. `ask(packet, timeout)`, called from the backend's worker thread, takes a
    dialog packet (a type byte and the prompt) and returns the answer, waiting at most
    `timeout` seconds. `first_password` is a password the client already sent, for the
    first password prompt only (as MariaDB's PAM plugin uses it)."""

    ask: Callable[[bytes, float], bytes] = field(repr=False)
    first_password: bytes | None = field(default=None, repr=False)

    @property
    def used_password(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class PeerCredentials:
    """What the kernel says about the process at the other end of the Unix socket."""

    uid: int | None  # None: not a Unix socket

    @property
    def used_password(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class GssapiName:
    """The initiator of an established GSSAPI (Kerberos) context: the keytab proved it."""

    principal: str

    @property
    def used_password(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class OidcToken:
    """An OpenID Connect ID token sent by MySQL's authentication_openid_connect_client
    (a bearer credential: secret until it expires)."""

    token: bytes = field(repr=False)

    @property
    def used_password(self) -> bool:
        return bool(self.token)


Credential = (
    ClearPassword
    | NativeScramble
    | Sha2Scramble
    | Ed25519Signature
    | Conversation
    | PeerCredentials
    | GssapiName
    | OidcToken
)
