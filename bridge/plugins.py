"""Account-row plugins: which backend verifies a row and which wire method it asks for.

Keyed by the MySQL plugin names a DBA writes in CREATE USER ... IDENTIFIED WITH.

Which wire method can feed which backend is said once, in the credentials: each wire
method's `proves` (what its exchange returns) against each backend's `accepts` (what its
verify() checks). A row's own `wire_method`, and the client methods a row keeps instead of
switching (`follows`, narrowed by the plugin's Keep policy), are derived from that pairing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from bridge.backends.peer import parse_socket_rule
from bridge.backends.store import HASH_PARSERS
from bridge.credentials import (
    ClearPassword,
    Conversation,
    Credential,
    Ed25519Signature,
    GssapiName,
    NativeScramble,
    OidcToken,
    PeerCredentials,
    Sha2Scramble,
)
from bridge.hashing import HashFormatError
from bridge.mapping.auth_string import (
    AuthStringError,
    MappingRule,
    parse_kerberos,
    parse_ldap,
    parse_oidc_rule,
    parse_pam,
)
from bridge.wire import WIRE_METHODS

# What each backend checks, by the name account rows use for it: each backend class's
# `accepts` (a test holds them equal). Written out here so that reading and validating the
# files (check, a reload's child) does not load the LDAP, Kerberos and OpenID Connect
# libraries for a configuration that uses none of them.
ACCEPTS: dict[str, tuple[type[Credential], ...]] = {
    "store": (ClearPassword, NativeScramble, Sha2Scramble, Ed25519Signature),
    "pam": (ClearPassword, Conversation),
    "ldap": (ClearPassword,),
    "kerberos": (GssapiName, ClearPassword),
    "peer": (PeerCredentials,),
    "oidc": (OidcToken, ClearPassword),
}


def feeds(method: str, backend: str) -> bool:
    """Can what this wire method proves be checked by this backend?"""
    proves = WIRE_METHODS[method].proves
    return any(issubclass(kind, ACCEPTS[backend]) for kind in proves)


class Keep(Enum):
    """Which of the methods that can feed its backend a row keeps when the client opens
    with one, instead of switching the client to the row's own method."""

    ANY = "any"  # a password is a password, however it came (PAM, LDAP)
    # Not caching_sha2_password, every client's default: for Kerberos that would turn
    # single sign-on into a password prompt; a client must choose a password method on purpose.
    CHOSEN = "chosen"
    # Only a password the client has already sent in its first packet; otherwise the row's
    # own method, which proves without the password crossing the wire (the hash store).
    SENT = "sent"
    NONE = "none"  # the row's own method only (auth_socket)


KEEPS: dict[Keep, Callable[[str], bool]] = {
    Keep.ANY: lambda method: True,
    Keep.CHOSEN: lambda method: method != "caching_sha2_password",
    Keep.SENT: lambda method: method == "mysql_clear_password",
    Keep.NONE: lambda method: False,
}


@dataclass(frozen=True)
class PluginSpec:
    name: str
    backend: str  # key in the runtime's backends
    wire: str  # the wire method the row asks the client for
    parse: Callable[[bytes], object]  # validates the authentication_string, raises ValueError
    keep: Keep = Keep.SENT
    # The group-mapping rule in the authentication_string; None for hash-store rows.
    rule: Callable[[bytes], MappingRule] | None = None
    # False for plugins that never involve a password (auth_socket): their denials are
    # ERROR 1698 without "(using password: ...)", as mysqld sends them.
    mentions_password: bool = True
    # The method to ask a client for when it opened with another one and sent no password:
    # for OpenID Connect rows, MySQL's token plugin (Connector/Python's openid_token_file
    # sends no password), while a client that typed one keeps a password method.
    without_password: str | None = None
    # The secret is a bearer token (OpenID Connect): TLS or the Unix socket only, whatever
    # allow_insecure_cleartext says and even though RSA could carry a short one; refused
    # (3159) before the client is asked for anything.
    secure_only: bool = False
    # The credential exists on the Unix socket only (auth_socket's SO_PEERCRED): over TCP
    # the backend denies (1698) whatever the client sends.
    unix_socket_only: bool = False

    @cached_property
    def follows(self) -> tuple[str, ...]:
        """The client methods the row keeps when the client starts with them."""
        keeps = KEEPS[self.keep]
        return tuple(m for m in WIRE_METHODS if feeds(m, self.backend) and keeps(m))

    def mapping_rule(self, authentication_string: bytes) -> MappingRule | None:
        return None if self.rule is None else self.rule(authentication_string)

    def wire_for(self, client_method: str | None, answered: bool = True) -> str:
        if not answered and self.without_password is not None:
            return self.without_password
        return client_method if client_method in self.follows else self.wire


def _text(parse: Callable[[str], MappingRule]) -> Callable[[bytes], MappingRule]:
    def rule(authentication_string: bytes) -> MappingRule:
        try:
            return parse(authentication_string.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise AuthStringError("the authentication string is not UTF-8") from exc

    return rule


def _mapped(name: str, backend: str, wire: str, parse: Callable[[str], MappingRule],
            keep: Keep) -> PluginSpec:  # fmt: skip
    """A row whose authentication_string is a group-mapping rule."""
    return PluginSpec(name, backend, wire, _text(parse), keep, rule=_text(parse))


# MariaDB's ed25519: the row's plugin is 'ed25519', the client's is 'client_ed25519'.
_STORE_WIRE = {"ed25519": "client_ed25519"}

OIDC_METHOD = "authentication_openid_connect_client"


PLUGINS: dict[str, PluginSpec] = {
    spec.name: spec
    for spec in (
        *(
            PluginSpec(name, "store", _STORE_WIRE.get(name, name), parse)
            for name, parse in HASH_PARSERS.items()
        ),
        _mapped("authentication_pam", "pam", "dialog", parse_pam, Keep.ANY),
        _mapped(
            "authentication_ldap_simple", "ldap", "caching_sha2_password", parse_ldap, Keep.ANY
        ),
        _mapped(
            "authentication_kerberos",
            "kerberos",
            "authentication_kerberos_client",
            parse_kerberos,
            Keep.CHOSEN,
        ),
        _mapped("gssapi", "kerberos", "auth_gssapi_client", parse_kerberos, Keep.CHOSEN),
        # MySQL's OpenID Connect plugin: the token by its own client plugin, or as the
        # password of any password method (the mariadb CLI, PyMySQL, JDBC: --password=TOKEN).
        PluginSpec(
            "authentication_openid_connect",
            "oidc",
            "caching_sha2_password",
            _text(parse_oidc_rule),  # the JSON, its keys, the mapping
            Keep.ANY,
            rule=_text(parse_oidc_rule),
            without_password=OIDC_METHOD,
            secure_only=True,
        ),
        PluginSpec(
            "auth_socket",
            "peer",
            "auth_socket",
            _text(parse_socket_rule),
            Keep.NONE,
            rule=_text(parse_socket_rule),
            mentions_password=False,
            unix_socket_only=True,
        ),
    )
}

STORE_PLUGINS = tuple(name for name, spec in PLUGINS.items() if spec.backend == "store")


def validate_wire_method(plugin: str, method: str) -> None:
    backend = PLUGINS[plugin].backend if plugin in PLUGINS else None
    if method not in WIRE_METHODS:
        raise ValueError(f"'{method}' is not a wire method (known: {', '.join(WIRE_METHODS)})")
    if backend is not None and not feeds(method, backend):
        raise ValueError(f"{plugin} accounts cannot be checked with {method}")


def validate_row(plugin: str, authentication_string: bytes) -> None:
    """Raise ValueError with an operator-facing message if the row cannot be used."""
    spec = PLUGINS.get(plugin)
    if spec is None:
        known = ", ".join(sorted(PLUGINS))
        raise ValueError(f"plugin '{plugin}' is not loaded (known: {known})")
    try:
        spec.parse(authentication_string)
        spec.mapping_rule(authentication_string)
    except (HashFormatError, AuthStringError) as exc:
        raise ValueError(str(exc)) from None
