"""`mysql-auth-bridge explain`: what the bridge would do for a user, host and groups, step by
step, using the same functions as a real login (bridge/decision.py). No I/O here: with
`--check-backend` the command (cli.py) asks the backend for the groups first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.backends.peer import allowed_os_users
from bridge.decision import (
    Choice,
    Outcome,
    Verdict,
    check_transport,
    choose,
    decoy_choices,
    resolve,
)
from bridge.errors import SecureTransportRequired
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import ClientHost
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
    authenticated_as: str | None = None, client_plugin: str | None = None,
) -> Explanation:  # fmt: skip
    """The decision a login takes (bridge/decision.py), told step by step; `groups` and
    `authenticated_as` stand for what the backend would report. `client_plugin`: the one
    the client opens with; by default the greeting's, as real clients do."""
    out = Explanation()
    greeting = rt.config.server.default_auth_plugin
    opening = f", opening with {client_plugin or greeting}"
    if client_plugin is None:
        client_plugin, opening = greeting, f"{opening} (the greeting's: server.default_auth_plugin)"
    out.say(f"user '{user}' from {client.display} over {transport}{opening}")
    if _refused_transport(rt, transport, out):
        return out
    _list_rows(rt, user, client, out)
    choice = choose(rt, user, client, client_plugin)
    if choice.decoy:
        _say_decoy(decoy_choices(rt, user, client, client_plugin), transport, rt, out)
        return out
    _say_method(choice, out)
    if _refused_cleartext(rt, choice, transport, out) or _refused_peer(choice, transport, out):
        return out
    outcome = resolve(rt, choice.row, groups, authenticated_as)
    out.say(f"groups: {', '.join(groups) if groups else '(none)'}")
    out.say(f"mapping: {outcome.decision.reason}")
    if outcome.decision.user is not None:
        proxied = " (proxied)" if outcome.decision.proxied else ""
        out.say(f"account: {outcome.decision.account}{proxied}")
    out.say(RESULTS[outcome.verdict](choice, outcome))
    out.granted = outcome.verdict is Verdict.GRANTED
    return out


RESULTS: dict[Verdict, Callable[[Choice, Outcome], str]] = {
    Verdict.GRANTED: lambda c, o: f"result: logs in upstream as '{o.decision.user}'",
    Verdict.DENIED: lambda c, o: f"result: access denied (ERROR {c.denial_code}): {o.reason}",
    Verdict.NO_CREDENTIALS: lambda c, o: f"result: ERROR 3169 after authentication: {o.reason}",
}


def _say_method(choice: Choice, out: Explanation) -> None:
    out.say(f"wire method: {choice.wire_method}")
    if choice.row.wire_method:
        out.say("  (the row's wire_method: every client is asked for it)")
    elif choice.spec.follows:
        out.say(f"  (keeps {', '.join(choice.spec.follows)} when the client starts with it)")
    out.say(f"backend: {choice.backend}")


def _say_decoy(choices: list[Choice], transport: str, rt: Runtime, out: Explanation) -> None:
    """A decoy is refused for clear text over plain TCP as a real row is (3159, before any
    password is asked), else denied as a wrong password (1045)."""
    out.say("  no row matches: the client is answered as for a wrong password (decoy)")
    # The running bridge draws the decoy's plugin with a secret key of its own: explain can
    # name only the wire methods of the plugins it draws from (those of the rows).
    methods = sorted({c.wire_method for c in choices})
    out.say(f"decoy: the wire method of one of the plugins in use, by the user name: "
            f"{', '.join(methods)}")  # fmt: skip
    refused = [c for c in choices if _transport_refusal(rt, c, transport) is not None]
    if not refused:
        out.say("result: access denied (ERROR 1045)")
        return
    _refused_cleartext(rt, refused[0], transport, out)
    if len(refused) < len(choices):
        drawn = ", ".join(sorted({c.row.plugin for c in refused}))
        out.say(f"  (only for a user name that draws {drawn}; otherwise ERROR 1045)")


def _refused_transport(rt: Runtime, transport: str, out: Explanation) -> bool:
    tls = rt.config.tls
    if tls is not None and tls.require_secure_transport and transport == "tcp":
        out.say("result: refused before authentication: require_secure_transport (ERROR 3159)")
        return True
    return False


def _transport_refusal(
    rt: Runtime, choice: Choice, transport: str
) -> SecureTransportRequired | None:
    """The rule a real login applies before the client is asked for anything (3159)."""
    try:
        check_transport(rt, choice, secure=transport != "tcp")
    except SecureTransportRequired as exc:
        return exc
    return None


def _refused_cleartext(rt: Runtime, choice: Choice, transport: str, out: Explanation) -> bool:
    refusal = _transport_refusal(rt, choice, transport)
    if refusal is None:
        return False
    out.say(f"result: refused before authentication (ERROR 3159): {refusal.log_reason}")
    out.say(f"  (the client is told: {refusal.message})")
    return True


def _refused_peer(choice: Choice, transport: str, out: Explanation) -> bool:
    """auth_socket: no peer credentials over TCP (1698, whatever the client sends); over
    the socket, the OS user the client runs as decides."""
    if not choice.spec.unix_socket_only:
        return False
    if transport != "socket":
        out.say(f"result: access denied (ERROR {choice.denial_code}): "
                f"{choice.row.plugin} works on the Unix socket only")  # fmt: skip
        return True
    allowed = allowed_os_users(choice.row)
    if allowed is None:
        out.say("  (any OS user the client runs as: its OS groups map it)")
    else:
        users = ", ".join(sorted(allowed))
        out.say(f"  (the client must run as one of the OS users {users}: else ERROR 1698)")
    return False


def _list_rows(rt: Runtime, user: str, client: ClientHost, out: Explanation) -> None:
    out.say("rows, most specific first:")
    for row in rt.accounts.rows:
        if row.matches(user, client):
            out.say(f"  match        {row.account} ({row.source}), plugin {row.plugin}")
            return
        out.say(f"  passed over  {row.account} ({row.source}): {_why_not(row, user, client)}")
