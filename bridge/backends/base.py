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


@dataclass(frozen=True, slots=True)
class Identity:
    name: str  # who the credential proved, in the backend's terms
    groups: tuple[str, ...] = ()
    source: str = ""  # which backend said so
    # A name the backend itself maps the user to (PAM_USER rewritten by pam_user_map and
    # the like): it becomes the proxied account, as MySQL's authenticated_as.
    authenticated_as: str | None = None
    # What the backend resolved the name to (an LDAP entry's DN): throttling counts it too.
    resolved: str | None = None

    @property
    def resolved_names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.name, self.authenticated_as, self.resolved) if n)


class Backend(Protocol):
    name: str
    accepts: tuple[type[Credential], ...]  # the credentials verify() checks

    async def verify(
        self, credential: Credential, user: str, row: AccountRow, peer: Peer
    ) -> Identity:
        """`user` is the name the client sent. Return the Identity, or raise Denied /
        BackendUnavailable."""
        ...
