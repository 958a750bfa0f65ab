"""The backend contract: verify a credential for an account row, return who it proved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from bridge.credentials import Credential
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import ClientHost

Transport = Literal["tcp", "tls", "socket"]


@dataclass(frozen=True, slots=True)
class Peer:
    host: ClientHost
    transport: Transport
    uid: int | None = None  # SO_PEERCRED on the Unix socket


@dataclass(frozen=True, slots=True)
class Identity:
    name: str  # who the credential proved, in the backend's terms
    groups: tuple[str, ...] = ()
    source: str = ""  # which backend said so


class Backend(Protocol):
    name: str
    accepts: tuple[type, ...]

    async def verify(self, credential: Credential, row: AccountRow, peer: Peer) -> Identity:
        """Return the Identity, or raise Denied / BackendUnavailable."""
        ...
