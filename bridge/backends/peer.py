"""auth_socket: the peer's uid from SO_PEERCRED on the Unix socket, its name from the passwd
database. Allowed when the OS user is the MySQL user or is listed in the authentication
string (MySQL's rule); an anonymous row takes any OS user and maps it by its groups.

The passwd and group lookups go through NSS, which may ask a directory (sssd, nslcd): they
run on threads of this backend's own, within LOOKUP_TIMEOUT, so a hung directory makes
auth_socket logins an outage (1698, as every auth_socket refusal) and never takes the
threads other logins use."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bridge.backends.base import Identity, Peer
from bridge.backends.osgroups import groups_of, user_name
from bridge.credentials import Credential, PeerCredentials
from bridge.errors import BackendUnavailable, Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import AuthStringError, MappingRule, parse_pam

_OS_NAME = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._$-]{0,31}")
LOOKUP_THREADS = 4
LOOKUP_TIMEOUT = 10.0  # seconds for one passwd or group lookup
T = TypeVar("T")


def parse_socket_rule(text: str) -> MappingRule:
    """'stephanie, tom, @dba=developer': OS users allowed, then @group=account mappings.
    The rule's target holds the allowed users, comma-separated."""
    users, mappings = [], []
    for item in (i.strip() for i in text.split(",")) if text.strip() else ():
        if not item:
            raise AuthStringError("empty item between commas")
        if item.startswith("@"):
            mappings.append(item[1:])
        elif not _OS_NAME.fullmatch(item):
            raise AuthStringError(f"'{item}' is not an OS user name or @group=account")
        else:
            users.append(item)
    rule = parse_pam("x, " + ", ".join(mappings)) if mappings else MappingRule("")
    return MappingRule(",".join(users), rule.mappings)


def allowed_os_users(row: AccountRow) -> frozenset[str] | None:
    """The OS users a row admits: its own user name and those its authentication string
    lists; None for an anonymous row (any OS user, mapped by its groups)."""
    if not row.user:
        return None
    rule = parse_socket_rule(row.authentication_string.decode())
    return frozenset({row.user, *filter(None, rule.target.split(","))})


class PeerBackend:
    name = "peer"
    accepts: tuple[type[Credential], ...] = (PeerCredentials,)

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="nss")

    async def _in_time(self, lookup: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                return await loop.run_in_executor(self.pool, lookup, *args)
        except TimeoutError as exc:
            raise BackendUnavailable(
                f"the passwd/group database (NSS) did not answer in {LOOKUP_TIMEOUT:g} s"
            ) from exc

    async def lookup(self, user: str, row: AccountRow) -> tuple[str, ...]:
        """The OS groups of `user` (explain)."""
        return await self._in_time(groups_of, user)

    async def verify(
        self, credential: Credential, user: str, row: AccountRow, peer: Peer
    ) -> Identity:
        assert isinstance(credential, PeerCredentials)
        if credential.uid is None:
            raise Denied("auth_socket works on the Unix socket only")
        os_user = await self._in_time(user_name, credential.uid)
        if os_user is None:
            raise Denied(f"uid {credential.uid} has no passwd entry")
        allowed = allowed_os_users(row)
        if allowed is not None and os_user not in allowed:
            raise Denied(f"OS user '{os_user}' may not log in as '{user}'")
        groups = await self._in_time(groups_of, os_user)
        return Identity(os_user, groups, self.name)
