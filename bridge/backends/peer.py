"""auth_socket: the peer's uid from SO_PEERCRED on the Unix socket, its name from the passwd
database. Allowed when the OS user is the MySQL user or is listed in the authentication
string (MySQL's rule); an anonymous row takes any OS user and maps it by its groups."""

from __future__ import annotations

import asyncio
import re

from bridge.backends.base import Identity, Peer
from bridge.backends.osgroups import groups_of, user_name
from bridge.credentials import Credential, PeerCredentials
from bridge.errors import Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import AuthStringError, MappingRule, parse_pam

_OS_NAME = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._$-]{0,31}")


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


class PeerBackend:
    name = "peer"
    accepts: tuple[type[Credential], ...] = (PeerCredentials,)

    async def lookup(self, user: str, row: AccountRow) -> tuple[str, ...]:
        """The OS groups of `user` (explain)."""
        return await asyncio.get_running_loop().run_in_executor(None, groups_of, user)

    async def verify(
        self, credential: Credential, user: str, row: AccountRow, peer: Peer
    ) -> Identity:
        assert isinstance(credential, PeerCredentials)
        if credential.uid is None:
            raise Denied("auth_socket works on the Unix socket only")
        loop = asyncio.get_running_loop()
        os_user = await loop.run_in_executor(None, user_name, credential.uid)
        if os_user is None:
            raise Denied(f"uid {credential.uid} has no passwd entry")
        rule = parse_socket_rule(row.authentication_string.decode())
        allowed = {row.user, *filter(None, rule.target.split(","))} - {""}
        if row.user and os_user not in allowed:
            raise Denied(f"OS user '{os_user}' may not log in as '{user}'")
        groups = await loop.run_in_executor(None, groups_of, os_user)
        return Identity(os_user, groups, self.name)
