"""What resolve_proxied decides, field by field: the session denies a proxied account that
has no upstream credentials, and the audit log records `account` and `proxied`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.decision import check_transport, decoy_choices
from bridge.errors import SecureTransportRequired
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import MappingRule, parse_ldap, parse_pam
from bridge.mapping.hosts import client_host
from bridge.mapping.proxy import Decision, ProxyGrant, ProxyGrants, mapped_name, resolve_proxied
from bridge.plugins import STORE_PLUGINS
from bridge.runtime import build_runtime
from bridge.wire import WIRE_METHODS


def row(user: str, host: str = "%", plugin: str = "authentication_pam") -> AccountRow:
    return AccountRow(user, host, plugin, b"", f"{user}@{host}")


GRANTS = ProxyGrants((
    ProxyGrant("", "%", "developer", "%"),
    ProxyGrant("", "%", "developer", "localhost"),
    ProxyGrant("app", "%", "app_rw", "10.%"),
    ProxyGrant("Svc", "LOCALHOST", "svc_ro", "%"),
))  # fmt: skip
PAM = parse_pam("mysql, dba=developer, staff=ops")

CASES = [
    # (row, rule, groups, authenticated_as, expected Decision without reason)
    (row(""), PAM, ("dba",), None, ("developer", "%", True, "'developer'@'%'")),
    (row(""), PAM, ("staff",), None, (None, None, False, "")),  # no PROXY grant for 'ops'
    (row(""), PAM, ("nobody",), None, (None, None, False, "")),  # anonymous is no session
    (row("plug"), PAM, ("nobody",), None, ("plug", "%", False, "'plug'@'%'")),
    (row("plug", "10.%"), parse_pam("mysql"), (), None, ("plug", "10.%", False, "'plug'@'10.%'")),
    (row(""), parse_pam("mysql"), (), "developer", ("developer", "%", True, "'developer'@'%'")),
    (row("app", plugin="mysql_native_password"), None, (), None, ("app_rw", "10.%", True, "'app_rw'@'10.%'")),
    (row("Svc", "localhost", "x"), None, (), None, ("svc_ro", "%", True, "'svc_ro'@'%'")),
    (row("svc", "localhost", "x"), None, (), None, ("svc", "localhost", False, "'svc'@'localhost'")),
    (row(""), parse_ldap("#dba=developer"), ("dba",), None, ("developer", "%", True, "'developer'@'%'")),
]  # fmt: skip


@pytest.mark.parametrize(("proxy", "rule", "groups", "rewritten", "expected"), CASES)
def test_decision_fields(
    proxy: AccountRow, rule: MappingRule | None, groups: tuple[str, ...], rewritten: str | None,
    expected: tuple[str | None, str | None, bool, str],
) -> None:  # fmt: skip
    decision = resolve_proxied(proxy, rule, groups, rewritten, GRANTS)
    assert (decision.user, decision.host, decision.proxied, decision.account) == expected
    assert decision.reason


def test_the_accounts_own_row_is_not_proxied_even_with_grants() -> None:
    # A mapping that names nothing leaves the row's own account: never marked proxied.
    decision = resolve_proxied(row("app"), parse_pam("mysql, g=app_rw"), ("x",), None, GRANTS)
    assert (decision.user, decision.proxied) == ("app", False)


@pytest.mark.parametrize(
    ("decision", "account"),
    [
        (Decision("dev", "%", ""), "'dev'@'%'"),
        (Decision("dev", None, ""), "'dev'@''"),
        (Decision("", "localhost", ""), "''@'localhost'"),
        (Decision("o'brien", "h\\1", ""), "'o\\'brien'@'h\\\\1'"),
        (Decision(None, "%", ""), ""),
        (Decision(None, None, "denied"), ""),
    ],
)
def test_account_text(decision: Decision, account: str) -> None:
    assert decision.account == account
    assert decision.proxied is False  # the default


@pytest.mark.parametrize(
    ("rule", "groups", "authenticated_as", "grants", "expected"),
    [
        (PAM, ("dba",), "someone", [], ("developer", "group mapping -> 'developer'")),
        (PAM, (), "someone", [], (None, "no group in the mapping matched")),
        (parse_pam("mysql"), (), "bob", [], ("bob", "the backend authenticated the user as 'bob'")),
        (None, (), None, list(GRANTS.grants[:2]), ("developer", "PROXY grant -> 'developer'")),
        (parse_pam("mysql"), (), None, list(GRANTS.grants), (None, "no mapping")),
        (None, (), None, [], (None, "no mapping")),
    ],
)
def test_mapped_name_and_why(
    rule: MappingRule | None, groups: tuple[str, ...], authenticated_as: str | None,
    grants: list[ProxyGrant], expected: tuple[str | None, str],
) -> None:  # fmt: skip
    assert mapped_name(rule, groups, authenticated_as, grants) == expected


def test_reasons_name_the_rule_that_decided() -> None:
    anon = resolve_proxied(row(""), PAM, ("nobody",), None, GRANTS)
    assert (
        anon.reason == "no group in the mapping matched, and the anonymous account is not a session"
    )
    own = resolve_proxied(row("plug"), PAM, ("nobody",), None, GRANTS)
    assert own.reason == "no group in the mapping matched: the account itself"
    missing = resolve_proxied(row(""), PAM, ("staff",), None, GRANTS)
    assert missing.reason == "group mapping -> 'ops', but ''@'%' has no PROXY grant for 'ops'"


def test_grant_matching_is_exact_on_user_and_case_blind_on_host() -> None:
    grant = ProxyGrant("Svc", "LocalHost", "x", "%")
    assert grant.is_for(row("Svc", "localhost"))
    assert not grant.is_for(row("svc", "localhost"))
    assert not grant.is_for(row("Svc", "%"))


def test_target_prefers_the_rows_host_case_blind_then_file_order() -> None:
    grants = ProxyGrants((
        ProxyGrant("", "LOCALHOST", "dev", "%"),
        ProxyGrant("", "localhost", "dev", "LocalHost"),
        ProxyGrant("", "localhost", "other", "localhost"),
    ))  # fmt: skip
    local = row("", "localhost")
    chosen = grants.target(local, "dev")
    assert chosen is not None and chosen.proxied_host == "LocalHost"
    assert grants.target(local, "nobody") is None
    first = ProxyGrants((grants.grants[0], ProxyGrant("", "localhost", "dev", "10.%")))
    assert first.target(local, "dev") == grants.grants[0]


# --- decoys: explain's answer must not depend on the running bridge's secret draw ----------


@pytest.mark.parametrize("opener", [None, *WIRE_METHODS])
@pytest.mark.parametrize("secure", [False, True])
def test_every_plugin_a_decoy_may_draw_meets_the_same_transport_rule(
    opener: str | None, secure: bool, tmp_path: Path
) -> None:
    """explain cannot know which store plugin the running bridge draws for an unknown user;
    its answer (3159 or 1045) is right only because every one of them gives the same."""
    rt = build_runtime(every_store_plugin(tmp_path), inspect_only=True)
    assert sorted(set(rt.decoy_plugins)) == sorted(STORE_PLUGINS)
    choices = decoy_choices(rt, "ghost", client_host("10.0.0.1", False), opener)
    assert [c.row.plugin for c in choices] == sorted(STORE_PLUGINS)
    refused = set()
    for choice in choices:
        try:
            check_transport(rt, choice, secure)
        except SecureTransportRequired:
            refused.add(choice.row.plugin)
    assert refused in (set(), set(STORE_PLUGINS))
    assert bool(refused) == (opener == "mysql_clear_password" and not secure)


def every_store_plugin(tmp_path: Path) -> Path:
    rows = "".join(
        f"  - {{user: u{i}, plugin: {plugin}}}\n" for i, plugin in enumerate(STORE_PLUGINS)
    )
    (tmp_path / "accounts.yaml").write_text(f"accounts:\n{rows}")
    (tmp_path / "creds.yaml").write_text("{}\n")
    (tmp_path / "creds.yaml").chmod(0o600)
    config = tmp_path / "bridge.yaml"
    config.write_text("upstream: {credentials: creds.yaml}\naccounts: [accounts.yaml]\n"
                      "rsa: {private_key: k.pem, public_key: k.pub}\n")  # fmt: skip
    return config
