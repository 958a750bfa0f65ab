"""MySQL's proxy-user rules: which account an authenticated identity becomes.

https://dev.mysql.com/doc/refman/8.0/en/proxy-users.html
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import MappingRule
from bridge.mapping.names import format_account


@dataclass(frozen=True, slots=True)
class ProxyGrant:
    """GRANT PROXY ON proxied TO proxy."""

    proxy_user: str
    proxy_host: str
    proxied_user: str
    proxied_host: str
    source: str = ""

    def is_for(self, row: AccountRow) -> bool:
        return self.proxy_user == row.user and self.proxy_host.lower() == row.host.lower()


@dataclass(frozen=True)
class ProxyGrants:
    grants: tuple[ProxyGrant, ...] = ()

    def for_row(self, row: AccountRow) -> list[ProxyGrant]:
        return [g for g in self.grants if g.is_for(row)]

    def target(self, row: AccountRow, name: str) -> ProxyGrant | None:
        """The grant that lets `row` proxy the account `name`; a grant whose proxied host is
        the row's own host is preferred, then file order."""
        candidates = [g for g in self.for_row(row) if g.proxied_user == name]
        same_host = [g for g in candidates if g.proxied_host.lower() == row.host.lower()]
        chosen = same_host or candidates
        return chosen[0] if chosen else None


@dataclass(frozen=True, slots=True)
class Decision:
    """The account the session becomes, or why there is none."""

    user: str | None
    host: str | None
    reason: str
    proxied: bool = False

    @property
    def account(self) -> str:
        return format_account(self.user or "", self.host or "") if self.user is not None else ""


# Why a grant to the anonymous account never makes a proxied session. In MySQL, GRANT PROXY
# ON ''@'%' TO a WITH GRANT OPTION (the install's default for root) lets `a` grant PROXY on any
# account; it is not an account to become: the server's check_proxy_users search passes over
# grants to the anonymous user, and a plugin's mapping to '' is the anonymous row itself.
NEVER_ANONYMOUS = (
    "the anonymous account is never a proxied account (as in MySQL: GRANT PROXY ON ''@'%' "
    "... WITH GRANT OPTION only lets the grantee grant PROXY)"
)


def mapped_name(
    rule: MappingRule | None, groups: tuple[str, ...], authenticated_as: str | None,
    grants: list[ProxyGrant], anonymous: bool = False, exists: Container[str] | None = None,
) -> tuple[str | None, str]:  # fmt: skip
    """The account name the identity maps to, before any PROXY grant is checked.
    `anonymous`: the matched row is the anonymous account. `exists`: the account names the
    bridge can log in upstream as (None: every name)."""
    if rule is not None and rule.mappings:
        name = rule.account_for(groups)
        return (
            name,
            f"group mapping -> '{name}'" if name is not None else "no group in the mapping matched",
        )
    if authenticated_as is not None:
        return authenticated_as, f"the backend authenticated the user as '{authenticated_as}'"
    if rule is None and grants:  # built-in plugins proxy through their PROXY grant
        return _through_grant(grants, anonymous, exists)
    return None, "no mapping"


# Why a grant is passed over: MySQL's check_proxy_users goes on to the next grant when the
# proxied account does not exist; for the bridge, an account exists when it can log in
# upstream as it (the credentials file has its entry).
PASSED_OVER = (
    "no upstream credentials (as MySQL passes over a grant whose proxied account does not exist)"
)


def _through_grant(
    grants: list[ProxyGrant], anonymous: bool, exists: Container[str] | None
) -> tuple[str | None, str]:
    """MySQL's check_proxy_users for the built-in plugins: the first grant to a named
    account that exists. The anonymous row does not proxy this way (MySQL sees the empty
    proxied name as the row's own, empty, user name), and grants to the anonymous account
    are passed over, as are grants to accounts that do not exist (PASSED_OVER)."""
    if anonymous:
        return None, "no mapping (a built-in plugin's anonymous row does not proxy, as in MySQL)"
    named = [g for g in grants if g.proxied_user]
    gone = [g for g in named if exists is not None and g.proxied_user not in exists]
    usable = [g for g in named if g not in gone]
    if usable:
        first = usable[0]
        return first.proxied_user, f"PROXY grant -> '{first.proxied_user}'" + _over(
            named[: named.index(first)]  # every one before it was passed over
        )
    if gone:
        return None, "no mapping" + _over(gone)
    unused = format_account(grants[0].proxied_user, grants[0].proxied_host)
    return None, f"no mapping (its PROXY grant on {unused} is not used: {NEVER_ANONYMOUS})"


def _over(grants: list[ProxyGrant]) -> str:
    if not grants:
        return ""
    names = ", ".join(format_account(g.proxied_user, g.proxied_host) for g in grants)
    return f" (PROXY grant on {names} passed over: {PASSED_OVER})"


def resolve_proxied(
    row: AccountRow, rule: MappingRule | None, groups: tuple[str, ...],
    authenticated_as: str | None, grants: ProxyGrants, exists: Container[str] | None = None,
) -> Decision:  # fmt: skip
    """MySQL's rules: a mapped name must be covered by a PROXY grant on the matched row (no
    grant, no login; never a fallback); no mapped name means the row's own account, which the
    anonymous account cannot be. `exists`: as mapped_name's."""
    name, why = mapped_name(
        rule, groups, authenticated_as, grants.for_row(row), row.user == "", exists
    )
    if name == "":
        return Decision(None, None, f"{why}, but {NEVER_ANONYMOUS}")
    if name is None:
        if row.user == "":
            return Decision(None, None, f"{why}, and the anonymous account is not a session")
        return Decision(row.user, row.host, f"{why}: the account itself")
    grant = grants.target(row, name)
    if grant is None:
        return Decision(None, None, f"{why}, but {row.account} has no PROXY grant for '{name}'")
    return Decision(grant.proxied_user, grant.proxied_host, why, proxied=True)
