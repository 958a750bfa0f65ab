"""init_sql templates: statements run upstream right after the login, per account, with
values filled in as hex string literals, so that no quoting mode or sql_mode can turn a
value (a user name, a group) into SQL."""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

PLACEHOLDERS = (
    "user", "external_user", "groups", "proxy_account", "account", "client_host", "transport",
)  # fmt: skip


def literal(value: str) -> str:
    """A MySQL string literal that cannot be anything else: _utf8mb4 X'<hex>'."""
    return f"_utf8mb4 X'{value.encode('utf-8').hex()}'"


def check_template(template: str) -> None:
    """Raise ValueError if the template names an unknown placeholder or is malformed."""
    for _, name, spec, conversion in Formatter().parse(template):
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(f"init_sql: unknown placeholder {{{name}}} (known: {known})")


def render(template: str, values: Mapping[str, str]) -> str:
    return template.format_map({k: literal(v) for k, v in values.items()})
