"""Account-row plugins: which backend verifies a row and which wire method it asks for.

Keyed by the MySQL plugin names a DBA writes in CREATE USER ... IDENTIFIED WITH.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bridge.hashing import HashFormatError, parse_native, parse_sha2
from bridge.mapping.auth_string import AuthStringError, MappingRule


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

    def mapping_rule(self, authentication_string: bytes) -> MappingRule | None:
        return None if self.rule is None else self.rule(authentication_string)

    def wire_for(self, client_method: str | None) -> str:
        return client_method if client_method in self.follows else self.wire


def _store(name: str, parse: Callable[[bytes], object]) -> PluginSpec:
    return PluginSpec(name, "store", name, parse, follows=("mysql_clear_password",))


PLUGINS: dict[str, PluginSpec] = {
    spec.name: spec
    for spec in (
        _store("mysql_native_password", parse_native),
        _store("caching_sha2_password", parse_sha2),
        _store("sha256_password", parse_sha2),
    )
}

STORE_PLUGINS = tuple(name for name, spec in PLUGINS.items() if spec.backend == "store")


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
