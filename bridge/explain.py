"""`mysql-auth-bridge explain`: what the bridge would do for a user, host and groups, step by
step, using the same functions as a real login (no I/O unless a backend lookup is asked for)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import ClientHost
from bridge.mapping.proxy import resolve_proxied
from bridge.plugins import PLUGINS
from bridge.runtime import Runtime


@dataclass
class Explanation:
    lines: list[str] = field(default_factory=list)
    granted: bool = False

    def say(self, text: str) -> None:
        self.lines.append(text)


def _why_not(row: AccountRow, user: str, client: ClientHost) -> str:
    if row.user not in ("", user):
        return "user differs"
    return f"host '{row.host}' does not match"


def explain(
    rt: Runtime, user: str, client: ClientHost, groups: tuple[str, ...], transport: str,
    authenticated_as: str | None = None,
) -> Explanation:  # fmt: skip
    out = Explanation()
    out.say(f"user '{user}' from {client.display} over {transport}")
    if _refused_transport(rt, transport, out):
        return out
    row = _match(rt, user, client, out)
    if row is None:
        return out
    spec = PLUGINS[row.plugin]
    out.say(f"wire method: {spec.wire}")
    if spec.follows:
        out.say(f"  (keeps {', '.join(spec.follows)} when the client starts with it)")
    out.say(f"backend: {spec.backend}")
    rule = spec.mapping_rule(row.authentication_string)
    decision = resolve_proxied(row, rule, groups, authenticated_as, rt.grants)
    out.say(f"groups: {', '.join(groups) if groups else '(none)'}")
    out.say(f"mapping: {decision.reason}")
    if decision.user is None:
        out.say("result: access denied (ERROR 1045)")
        return out
    has_credentials = decision.user in rt.credentials
    out.say(f"account: {decision.account}{' (proxied)' if decision.proxied else ''}")
    if not has_credentials:
        out.say(f"result: access denied: no upstream credentials for '{decision.user}'")
        return out
    out.say(f"result: logs in upstream as '{decision.user}'")
    out.granted = True
    return out


def _refused_transport(rt: Runtime, transport: str, out: Explanation) -> bool:
    tls = rt.config.tls
    if tls is not None and tls.require_secure_transport and transport == "tcp":
        out.say("result: refused before authentication: require_secure_transport (ERROR 3159)")
        return True
    return False


def _match(rt: Runtime, user: str, client: ClientHost, out: Explanation) -> AccountRow | None:
    out.say("rows, most specific first:")
    for row in rt.accounts.rows:
        if row.matches(user, client):
            out.say(f"  match        {row.account} ({row.source}), plugin {row.plugin}")
            return row
        out.say(f"  passed over  {row.account} ({row.source}): {_why_not(row, user, client)}")
    out.say("  no row matches: the client is answered as for a wrong password (decoy)")
    out.say("result: access denied (ERROR 1045)")
    return None
