"""Account-row plugins: which backend verifies a row and which wire method it asks for.

Keyed by the MySQL plugin names a DBA writes in CREATE USER ... IDENTIFIED WITH.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bridge.backends.peer import parse_socket_rule
from bridge.hashing import HashFormatError, parse_ed25519, parse_native, parse_sha2
from bridge.mapping.auth_string import (
    AuthStringError,
    MappingRule,
    parse_kerberos,
    parse_ldap,
    parse_pam,
)


@dataclass(frozen=True)
class PluginSpec:
    name: str
    backend: str  # key in the runtime's backends
    wire: str  # the wire method the row asks the client for
    parse: Callable[[bytes], object]  # validates the authentication_string, raises ValueError
    # Methods the row keeps when the client starts with them instead of switching: a client
    # that opened with mysql_clear_password has already sent its password.
    follows: tuple[str, ...] = ()
    # The group-mapping rule in the authentication_string; None for hash-store rows.
    rule: Callable[[bytes], MappingRule] | None = None
    # False for plugins that never involve a password (auth_socket): their denials are
    # ERROR 1698 without "(using password: ...)", as mysqld sends them.
    mentions_password: bool = True

    def mapping_rule(self, authentication_string: bytes) -> MappingRule | None:
        return None if self.rule is None else self.rule(authentication_string)

    def wire_for(self, client_method: str | None) -> str:
        return client_method if client_method in self.follows else self.wire


def _store(name: str, parse: Callable[[bytes], object]) -> PluginSpec:
    return PluginSpec(name, "store", name, parse, follows=("mysql_clear_password",))


def _text(parse: Callable[[str], MappingRule]) -> Callable[[bytes], MappingRule]:
    def rule(authentication_string: bytes) -> MappingRule:
        try:
            return parse(authentication_string.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise AuthStringError("the authentication string is not UTF-8") from exc

    return rule


# Every method that can deliver a clear password: a client that starts with one keeps it.
PASSWORD_METHODS = ("caching_sha2_password", "sha256_password", "mysql_clear_password", "dialog")
# Kerberos rows keep either GSSAPI exchange, and the password methods a client must choose
# on purpose (not caching_sha2_password, every client's default: that would turn single
# sign-on into a password prompt).
KERBEROS_METHODS = ("authentication_kerberos_client", "auth_gssapi_client",
                    "mysql_clear_password", "sha256_password")  # fmt: skip

PLUGINS: dict[str, PluginSpec] = {
    spec.name: spec
    for spec in (
        _store("mysql_native_password", parse_native),
        _store("caching_sha2_password", parse_sha2),
        _store("sha256_password", parse_sha2),
        # MariaDB's ed25519: the row's plugin is 'ed25519', the client's is 'client_ed25519'.
        PluginSpec(
            "ed25519", "store", "client_ed25519", parse_ed25519, follows=("mysql_clear_password",)
        ),
        PluginSpec(
            "authentication_pam",
            "pam",
            "dialog",
            _text(parse_pam),
            follows=PASSWORD_METHODS,
            rule=_text(parse_pam),
        ),
        PluginSpec(
            "authentication_ldap_simple",
            "ldap",
            "caching_sha2_password",
            _text(parse_ldap),
            follows=("caching_sha2_password", "sha256_password", "mysql_clear_password"),
            rule=_text(parse_ldap),
        ),
        *(
            PluginSpec(
                name,
                "kerberos",
                wire,
                _text(parse_kerberos),
                follows=KERBEROS_METHODS,
                rule=_text(parse_kerberos),
            )
            for name, wire in (
                ("authentication_kerberos", "authentication_kerberos_client"),
                ("gssapi", "auth_gssapi_client"),
            )
        ),
        PluginSpec(
            "auth_socket",
            "peer",
            "auth_socket",
            _text(parse_socket_rule),
            rule=_text(parse_socket_rule),
            mentions_password=False,
        ),
    )
}

STORE_PLUGINS = tuple(name for name, spec in PLUGINS.items() if spec.backend == "store")


# What each wire method can prove, and which backends can check that.
PROOF = {
    "mysql_native_password": "scramble", "caching_sha2_password": "password",
    "sha256_password": "password", "mysql_clear_password": "password", "dialog": "conversation",
    "auth_socket": "peer", "authentication_kerberos_client": "gss", "auth_gssapi_client": "gss",
    "client_ed25519": "signature",
}  # fmt: skip
CHECKS = {
    "store": {"scramble", "password", "signature"},
    "pam": {"password", "conversation"},
    "ldap": {"password"},
    "kerberos": {"gss", "password"},
    "peer": {"peer"},
}


def validate_wire_method(plugin: str, method: str) -> None:
    backend = PLUGINS[plugin].backend if plugin in PLUGINS else None
    if method not in PROOF:
        raise ValueError(f"'{method}' is not a wire method (known: {', '.join(PROOF)})")
    if backend is not None and PROOF[method] not in CHECKS[backend]:
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
