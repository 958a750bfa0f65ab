"""Which principals a Kerberos row takes: MySQL's and MariaDB's rules, with realm allow-lists."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.backends.kerberos import KerberosBackend
from bridge.config import KerberosConfig
from bridge.errors import Denied
from bridge.mapping.accounts import AccountRow


def backend(**extra: object) -> KerberosBackend:
    b = object.__new__(KerberosBackend)  # the rules need no keytab
    b.config = KerberosConfig.model_validate(
        {"keytab": "/dev/null", "service_principal": "mysql/h@EXAMPLE.COM", **extra}
    )
    return b


def row(user: str, auth: str, plugin: str = "authentication_kerberos") -> AccountRow:
    return AccountRow(user, "%", plugin, auth.encode(), "test")


@pytest.mark.parametrize(
    ("principal", "user", "account", "extra", "expected"),
    [
        ("karl@EXAMPLE.COM", "karl", row("karl", "EXAMPLE.COM"), {}, "karl@EXAMPLE.COM"),
        ("karl@OTHER.COM", "karl", row("karl", "EXAMPLE.COM"), {}, None),  # MySQL: the row's realm
        ("eve@EXAMPLE.COM", "karl", row("karl", "EXAMPLE.COM"), {}, None),  # not karl
        ("maria@EXAMPLE.COM", "maria", row("maria", "maria@EXAMPLE.COM", "gssapi"), {}, "maria@EXAMPLE.COM"),
        ("maria@OTHER.COM", "maria", row("maria", "maria@EXAMPLE.COM", "gssapi"), {}, None),  # exact principal
        ("alice@EXAMPLE.COM", "alice", row("alice", "", "gssapi"), {}, "alice@EXAMPLE.COM"),  # service realm
        ("alice@OTHER.COM", "alice", row("alice", "", "gssapi"), {}, None),  # MariaDB takes any: we don't
        ("alice@OTHER.COM", "alice", row("alice", "", "gssapi"), {"realms": ["OTHER.COM"]}, "alice@OTHER.COM"),
        ("bob@EXAMPLE.COM", "x", row("", "EXAMPLE.COM, g=a", "gssapi"), {}, "bob"),  # anonymous: stripped
        ("bob@EXAMPLE.COM", "x", row("", "EXAMPLE.COM"), {"strip_realm": False}, "bob@EXAMPLE.COM"),
        ("bob@EVIL.COM", "x", row("", "EXAMPLE.COM"), {}, None),
    ],
)  # fmt: skip
def test_principal_rules(
    principal: str, user: str, account: AccountRow, extra: dict[str, Any], expected: str | None
) -> None:
    b = backend(**extra)
    if expected is None:
        with pytest.raises(Denied):
            b._check_principal(principal, user, account)
    else:
        assert b._check_principal(principal, user, account) == expected


def test_service_principal_needs_a_realm() -> None:
    with pytest.raises(ValueError, match="needs its realm"):
        KerberosConfig.model_validate({"keytab": "/dev/null", "service_principal": "mysql/h"})
