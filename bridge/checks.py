"""Cross-file checks for `mysql-auth-bridge check`: what each file can't see on its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.mapping.accounts import AccountRow
from bridge.mapping.names import format_account
from bridge.plugins import PLUGINS
from bridge.runtime import Runtime


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _always_proxies(rt: Runtime, row: AccountRow) -> bool:
    """A built-in-plugin row with a PROXY grant never logs in as itself."""
    return PLUGINS[row.plugin].rule is None and bool(rt.grants.for_row(row))


def check_runtime(rt: Runtime) -> Findings:
    found = Findings()
    credentials_file = rt.config.upstream.credentials
    for row in rt.accounts.rows:
        if row.user and not _always_proxies(rt, row) and row.user not in rt.credentials:
            found.errors.append(
                f"{row.source}: {row.account} can log in as itself, but {credentials_file} "
                f"has no entry '{row.user}' for the bridge to log in upstream with"
            )
    for grant in rt.grants.grants:
        if grant.proxied_user not in rt.credentials:
            proxied = format_account(grant.proxied_user, grant.proxied_host)
            found.errors.append(
                f"{grant.source}: PROXY grant for {proxied}, but {credentials_file} has no "
                f"entry '{grant.proxied_user}' for the bridge to log in upstream with"
            )
    found.warnings += _shadowed_default_proxy(rt)
    return found


def _shadowed_default_proxy(rt: Runtime) -> list[str]:
    anonymous = [r for r in rt.accounts.rows if r.user == ""]
    catch_all = [r for r in anonymous if r.host in ("%", "")]
    warnings = []
    for proxy in catch_all:
        for other in anonymous:
            if other is not proxy and other.host_pattern.sort_key() < proxy.host_pattern.sort_key():
                warnings.append(
                    f"{other.source}: the anonymous account {other.account} is more specific than "
                    f"the default proxy {proxy.account} ({proxy.source}): clients from "
                    f"'{other.host}' match it first and never reach the default proxy "
                    "(as in MySQL); drop it unless that is intended"
                )
    return warnings
