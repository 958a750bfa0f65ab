"""What a session asks of the upstream for the account it became: the login request (the
bridge's credentials for the account; the client's database, charset and connection
attributes behind the bridge's own), the account's init statements, and what an upstream
refusal becomes on the client's side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.decision import Authenticated
from bridge.errors import (
    BridgeError,
    UpstreamCredentialsRefused,
    UpstreamRefusal,
    UpstreamUnavailable,
)
from bridge.logfmt import Log
from bridge.mapping.templates import render
from bridge.protocol.constants import DEFAULT_CHARSET, REQUIRED_FROM_CLIENT, Capability
from bridge.protocol.packets import Attrs, HandshakeResponse41, encode_attrs_block
from bridge.upstream.client_auth import CLIENT_PLUGINS
from bridge.upstream.login import LoginRequest, UpstreamError

# Upstream errors that concern the client's own request, passed through as they are:
# too many connections, no access to / unknown / invalid database, connection limits, and
# a character set that cannot be a client's (ucs2, utf16, utf32: 1231).
CLIENT_FACING_UPSTREAM_ERRORS = frozenset({1040, 1044, 1049, 1102, 1203, 1226, 1231})
# Upstream errors that refuse the bridge's own credentials for the proxied account, each
# with what the DBA is to do about it (the log says it; the client gets 3169 for all).
_UNLOCK = "the upstream account is locked: unlock it upstream (ALTER USER ... ACCOUNT UNLOCK)"
_EXPIRED = (
    "the upstream account's password has expired: set a new one upstream (ALTER USER ... "
    "IDENTIFIED BY ...) and in the upstream credentials file"
)
CREDENTIAL_HINTS: dict[int, str] = {
    1045: "check the upstream credentials file: the upstream does not take its password",
    1698: "check the upstream credentials file, and that the upstream account takes a "
    "password (not unix_socket alone)",
    1251: "the upstream account's authentication plugin is not one the bridge logs in with "
    f"({', '.join(CLIENT_PLUGINS)})",
    1820: _EXPIRED,  # ER_MUST_CHANGE_PASSWORD
    1862: _EXPIRED,  # ER_MUST_CHANGE_PASSWORD_LOGIN
    3118: _UNLOCK,  # MySQL's ER_ACCOUNT_HAS_BEEN_LOCKED
    4151: _UNLOCK,  # MariaDB's ER_ACCOUNT_HAS_BEEN_LOCKED
}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the session comes from, as the upstream is told."""

    client_address: str  # the client's IP address, or 'localhost' for the Unix socket
    transport: str  # tcp, tls or socket
    connection_id: int  # the bridge's id for the connection


def login_request(
    auth: Authenticated, origin: Origin, hello: HandshakeResponse41,
    credentials: Mapping[str, bytes], client_caps: int,
) -> LoginRequest:  # fmt: skip
    """The upstream login as the account, with what the client asked for."""
    return LoginRequest(
        user=auth.upstream_user,
        password=upstream_password(credentials, auth.upstream_user),
        database=hello.database or None,
        charset=hello.charset,
        client_capabilities=client_caps,
        max_packet=hello.max_packet,
        attrs=bridge_attrs(auth, origin),
        attrs_block=client_attrs_block(hello),
    )


def own_login_request(user: str, password: bytes, program: str) -> LoginRequest:
    """A login of the bridge's own, not for a client (check --online, the health probe):
    no database, the default charset, `program` as its program_name."""
    return LoginRequest(
        user=user, password=password, database=None, charset=DEFAULT_CHARSET,
        client_capabilities=REQUIRED_FROM_CLIENT | Capability.CLIENT_LONG_PASSWORD,
        max_packet=1 << 24, attrs=(("program_name", program),),
    )  # fmt: skip


def upstream_password(credentials: Mapping[str, bytes], user: str) -> bytes:
    password = credentials.get(user)
    if password is None:
        raise UpstreamUnavailable(f"no upstream credentials for account '{user}'")
    return password


def bridge_attrs(auth: Authenticated, origin: Origin) -> Attrs:
    """Who is behind the session, first in the upstream's connection attributes."""
    return (
        ("bridge_external_user", auth.identity.name),
        ("bridge_proxy_account", auth.row.account),
        ("bridge_client_host", origin.client_address),
        ("bridge_transport", origin.transport),
        ("bridge_connection_id", str(origin.connection_id)),
    )


def session_attrs(auth: Authenticated, origin: Origin, client_attrs: Attrs) -> Attrs:
    """The bridge's attributes, then the client's own (none of which may pose as the bridge's)."""
    return bridge_attrs(auth, origin) + without_bridge_keys(client_attrs)


def without_bridge_keys(attrs: Attrs) -> Attrs:
    return tuple((k, v) for k, v in attrs if not k.startswith("bridge_"))


def client_attrs_block(hello: HandshakeResponse41) -> bytes:
    """The client's attributes as they came, unless they need filtering (a client may not
    pose as the bridge) or did not parse cleanly: then re-encoded from what parsed."""
    if hello.attrs_block and b"bridge_" not in hello.attrs_block:
        return hello.attrs_block
    return encode_attrs_block(without_bridge_keys(hello.attrs))


def init_statements(auth: Authenticated, origin: Origin) -> list[str]:
    """The row's init_sql, rendered for this session."""
    if not auth.row.init_sql:
        return []
    values = {
        "user": auth.row.user if auth.row.user else auth.identity.name,
        "external_user": auth.identity.name,
        "groups": ",".join(auth.identity.groups),
        "proxy_account": auth.row.account,
        "account": auth.decision.account,
        "client_host": origin.client_address,
        "transport": origin.transport,
    }
    return [render(template, values) for template in auth.row.init_sql]


def credential_hint(exc: UpstreamError) -> str | None:
    """What to do about a refusal of the bridge's credentials, by the upstream's errno."""
    return CREDENTIAL_HINTS.get(exc.err.errno) if exc.err is not None else None


def upstream_failure(exc: UpstreamError, account: str, log: Log) -> BridgeError:
    """An ERR about the client's own request goes back as the upstream sent it; a refusal
    of the bridge's credentials or an outage is 3169, logged once here."""
    errno = exc.err.errno if exc.err is not None else None
    if errno in CLIENT_FACING_UPSTREAM_ERRORS:
        assert exc.err is not None
        log.info("upstream refused the client's request as %r: %s", account, exc)
        failure: BridgeError = UpstreamRefusal(exc.err)
    elif (hint := credential_hint(exc)) is not None:
        log.warning(
            "upstream refused the bridge's credentials for account %r (%s): %s",
            account, hint, exc,
        )  # fmt: skip
        failure = UpstreamCredentialsRefused(account, f"bridge credentials refused: {exc}")
    else:
        log.warning("upstream login failed for account %r: %s", account, exc)
        failure = UpstreamUnavailable(str(exc))
    failure.logged = True
    return failure
