"""The login decision, pure: which row (or decoy) a user gets, which wire method and backend,
and, once the backend has spoken, which upstream account and with what outcome; and what a
successful login settled (Authenticated), for the upstream login and the admin interface.

A real login (bridge/session.py) and `mysql-auth-bridge explain` (bridge/explain.py) both
call these two functions, so explain cannot tell a DBA something a login does not do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from bridge.backends.base import Identity
from bridge.errors import SecureTransportRequired
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import ClientHost
from bridge.mapping.proxy import Decision, resolve_proxied
from bridge.plugins import PLUGINS, PluginSpec
from bridge.wire import WIRE_METHODS, WireContext

if TYPE_CHECKING:
    from bridge.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Choice:
    """Before the client is asked anything: the row, and how the row is checked."""

    row: AccountRow  # the matched row, or the user's decoy when none matches
    decoy: bool
    spec: PluginSpec
    wire_method: str  # the row's own wire_method, else its plugin's (or one it follows)

    @property
    def backend(self) -> str:
        return self.spec.backend

    @property
    def denial_code(self) -> int:
        """mysqld's code for a denial: 1698 for plugins that never take a password."""
        return 1045 if self.spec.mentions_password else 1698


def choose(
    rt: Runtime, user: str, client: ClientHost, client_plugin: str | None, answered: bool = True
) -> Choice:
    """The most specific matching row, or a decoy that looks like one (a wrong password).
    `answered`: the client's first answer carried something (a password was typed)."""
    row = rt.accounts.match(user, client)
    if row is None:
        return _choice(rt.decoy_for(user, client), True, client_plugin, answered)
    return _choice(row, False, client_plugin, answered)


def decoy_choices(
    rt: Runtime, user: str, client: ClientHost, client_plugin: str | None
) -> list[Choice]:
    """What `choose` can give a user no row matches, for each plugin the decoy may be drawn
    from (the running bridge draws with a secret key of its own; explain names them all)."""
    rows = [rt.decoys[plugin] for plugin in sorted(set(rt.decoy_plugins))]
    stand_ins = [AccountRow(user, client.display, row.plugin, row.authentication_string, "decoy")
                 for row in rows]  # fmt: skip
    return [_choice(row, True, client_plugin, True) for row in stand_ins]


def _choice(row: AccountRow, decoy: bool, client_plugin: str | None, answered: bool) -> Choice:
    spec = PLUGINS[row.plugin]
    return Choice(row, decoy, spec, row.wire_method or spec.wire_for(client_plugin, answered))


def check_transport(rt: Runtime, choice: Choice, secure: bool) -> None:
    """mysqld's rule for secrets in clear, before the client is asked for anything: raise
    SecureTransportRequired (3159) when the row's secret is a bearer token (OpenID Connect)
    or its wire method's answer is the password in clear (mysql_clear_password, dialog)
    and the connection is neither TLS nor the Unix socket (`secure`), unless
    server.allow_insecure_cleartext allows the latter."""
    if choice.spec.secure_only and not secure:
        why = f"{choice.row.plugin} token over insecure transport"
        raise SecureTransportRequired(SecureTransportRequired.CLEARTEXT, why)
    allow = rt.config.server.allow_insecure_cleartext
    ctx = WireContext(nonce=b"", secure=secure, rsa=rt.rsa, allow_insecure_cleartext=allow)
    WIRE_METHODS[choice.wire_method].check_transport(ctx)


class Verdict(Enum):
    GRANTED = "granted"
    DENIED = "denied"  # ERROR 1045 (1698 for auth_socket rows)
    NO_CREDENTIALS = "no upstream credentials"  # ERROR 3169: the bridge cannot log in upstream


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    verdict: Verdict
    reason: str


def resolve(
    rt: Runtime, row: AccountRow, groups: tuple[str, ...], authenticated_as: str | None
) -> Outcome:
    """MySQL's proxy-user rules for a verified identity, then whether the bridge holds
    credentials for the account: a built-in plugin's PROXY grants pass over accounts without
    them (MySQL passes over proxied accounts that do not exist); a proxied account without
    them is otherwise denied (never a fallback to the proxy row); the row's own account
    without them is an upstream outage (3169)."""
    rule = PLUGINS[row.plugin].mapping_rule(row.authentication_string)
    decision = resolve_proxied(row, rule, groups, authenticated_as, rt.grants, rt.credentials)
    if decision.user is None:
        return Outcome(decision, Verdict.DENIED, decision.reason)
    if decision.user in rt.credentials:
        return Outcome(decision, Verdict.GRANTED, decision.reason)
    if decision.proxied:
        reason = f"{decision.reason}, but {decision.account} has no upstream credentials"
        return Outcome(decision, Verdict.DENIED, reason)
    reason = f"no upstream credentials for account '{decision.user}'"
    return Outcome(decision, Verdict.NO_CREDENTIALS, reason)


@dataclass(frozen=True)
class Authenticated:
    """A login that succeeded: the row, who the backend says it is, the wire method it
    spoke, and the account the session becomes."""

    row: AccountRow
    identity: Identity
    wire_method: str
    decision: Decision

    @property
    def upstream_user(self) -> str:
        assert self.decision.user is not None
        return self.decision.user
