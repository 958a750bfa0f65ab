"""MySQL's proxy-user behaviour, table-driven (cf. mysql-test plugin_auth.result and the
manual's PAM and proxy-user pages)."""

from __future__ import annotations

import pytest

from bridge.mapping.accounts import AccountRow, AccountTable
from bridge.mapping.auth_string import GroupMapping, MappingRule, parse_ldap, parse_pam
from bridge.mapping.hosts import ClientHost, client_host
from bridge.mapping.proxy import ProxyGrant, ProxyGrants, resolve_proxied


def row(user: str, host: str = "%", plugin: str = "authentication_pam") -> AccountRow:
    return AccountRow(user, host, plugin, b"", f"{user}@{host}")


ANON = row("")
PLUG = row("plug")
STORE = row("app", plugin="mysql_native_password")
GRANTS = ProxyGrants((
    ProxyGrant("", "%", "developer", "%"),
    ProxyGrant("", "%", "data_entry", "%"),
    ProxyGrant("", "%", "developer", "localhost"),
    ProxyGrant("app", "%", "app_rw", "%"),
))  # fmt: skip
PAM = parse_pam("mysql, dba=developer, users=data_entry")

CASES = [
    # (name, row, rule, groups, authenticated_as, grants, expected account or None)
    ("first matching group wins", ANON, PAM, ("users", "dba"), None, GRANTS, ("developer", "%")),
    ("second group", ANON, PAM, ("users",), None, GRANTS, ("data_entry", "%")),
    ("no group matches on the anonymous row", ANON, PAM, ("staff",), None, GRANTS, None),
    ("mapped account without a PROXY grant", ANON, parse_pam("mysql, staff=ops"), ("staff",), None, GRANTS, None),
    ("no PROXY grants at all", ANON, PAM, ("dba",), None, ProxyGrants(), None),
    ("named row, no group matches: the account itself", PLUG, PAM, ("staff",), None, GRANTS, ("plug", "%")),
    ("named row, mapped, but the grant is on another row", PLUG, PAM, ("dba",), None, GRANTS, None),
    ("no mapping list: no proxying", PLUG, parse_pam("mysql"), ("dba",), None, GRANTS, ("plug", "%")),
    ("PAM rewrote the user: authenticated_as", ANON, parse_pam("mysql"), (), "developer", GRANTS, ("developer", "%")),
    ("rewritten user without a grant", ANON, parse_pam("mysql"), (), "root", GRANTS, None),
    ("built-in plugin proxies through its grant", STORE, None, (), None, GRANTS, ("app_rw", "%")),
    ("built-in plugin without a grant is itself", row("nat", plugin="x"), None, (), None, GRANTS, ("nat", "%")),
    ("LDAP: all groups of g1+g2", ANON, parse_ldap("#g1+g2=developer,g1=data_entry"), ("g1", "g2"), None, GRANTS, ("developer", "%")),
    ("LDAP: bare group maps to its own name", ANON, parse_ldap("#developer"), ("developer",), None, GRANTS, ("developer", "%")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "proxy", "rule", "groups", "rewritten", "grants", "expected"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_proxy_rules(
    name: str, proxy: AccountRow, rule: MappingRule | None, groups: tuple[str, ...],
    rewritten: str | None, grants: ProxyGrants, expected: tuple[str, str] | None,
) -> None:  # fmt: skip
    decision = resolve_proxied(proxy, rule, groups, rewritten, grants)
    got = (decision.user, decision.host) if decision.user is not None else None
    assert got == expected, decision.reason
    assert decision.reason


def test_grant_for_the_rows_own_host_is_preferred() -> None:
    local = row("", "localhost")
    grants = ProxyGrants((ProxyGrant("", "localhost", "developer", "%"),
                          ProxyGrant("", "localhost", "developer", "localhost")))  # fmt: skip
    decision = resolve_proxied(local, PAM, ("dba",), None, grants)
    assert (decision.user, decision.host) == ("developer", "localhost")


def matched(table: AccountTable, user: str, host: ClientHost) -> AccountRow:
    found = table.match(user, host)
    assert found is not None
    return found


def test_exact_account_wins_over_the_anonymous_proxy() -> None:
    # CREATE USER ''@'' ... AS 'proxied_user'; proxied_user logs in as itself, not proxied.
    table = AccountTable.build([row("", ""), row("proxied_user", plugin="mysql_native_password")])
    assert matched(table, "proxied_user", client_host("10.0.0.1", True)).user == "proxied_user"
    assert matched(table, "someone", client_host("10.0.0.1", True)).user == ""


def test_anonymous_localhost_row_shadows_the_default_proxy_for_local_clients() -> None:
    table = AccountTable.build([row(""), row("", "localhost", "mysql_native_password")])
    assert matched(table, "alice", client_host(None, True)).host == "localhost"
    assert matched(table, "alice", client_host("10.0.0.1", True)).host == "%"


# MariaDB's and MySQL's install default, as SHOW GRANTS prints it for root.
INSTALL_DEFAULT = ProxyGrant("root", "localhost", "", "%")
ROOT = row("root", "localhost", "mysql_native_password")
ANON_NATIVE = row("", "%", "mysql_native_password")


def test_the_install_default_grant_does_not_make_root_a_proxy() -> None:
    """MySQL's check_proxy_users passes over grants to the anonymous user: root logs in as
    itself, and says why its grant is not used."""
    decision = resolve_proxied(ROOT, None, (), None, ProxyGrants((INSTALL_DEFAULT,)))
    assert (decision.user, decision.host, decision.proxied) == ("root", "localhost", False)
    assert "its PROXY grant on ''@'%' is not used" in decision.reason
    assert "never a proxied account" in decision.reason


def test_a_grant_to_a_named_account_after_the_install_default_is_used() -> None:
    grants = ProxyGrants((INSTALL_DEFAULT, ProxyGrant("root", "localhost", "dba", "%")))
    decision = resolve_proxied(ROOT, None, (), None, grants)
    assert (decision.user, decision.host, decision.proxied) == ("dba", "%", True)


def test_an_anonymous_built_in_row_does_not_proxy_through_its_grant() -> None:
    """MySQL compares the empty proxied name with the anonymous row's empty user name and
    finds no proxying; the anonymous account is no session in the bridge: denied."""
    grants = ProxyGrants((ProxyGrant("", "%", "developer", "%"),))
    decision = resolve_proxied(ANON_NATIVE, None, (), None, grants)
    assert decision.user is None
    # explain prints this reason as it is
    assert decision.reason == (
        "no mapping (a built-in plugin's anonymous row does not proxy, as in MySQL), "
        "and the anonymous account is not a session"
    )


@pytest.mark.parametrize(
    ("rule", "rewritten"),
    # (the parsers refuse an empty account name; a rule made otherwise is still refused)
    [(MappingRule("mysql", (GroupMapping(("dba",), ""),)), None), (parse_pam("mysql"), "")],
    ids=["a group mapping to ''", "a backend that rewrote the user to ''"],
)
def test_no_mapping_ever_makes_the_anonymous_account_a_session(
    rule: MappingRule, rewritten: str | None
) -> None:
    grants = ProxyGrants((ProxyGrant("", "%", "", "%"),))  # even with a grant naming ''
    decision = resolve_proxied(ANON, rule, ("dba",), rewritten, grants)
    assert decision.user is None and not decision.proxied
    assert decision.reason.endswith("never a proxied account (as in MySQL: GRANT PROXY ON "
                                    "''@'%' ... WITH GRANT OPTION only lets the grantee grant PROXY)")  # fmt: skip


DBA, GONE = (
    ProxyGrant("root", "localhost", "dba", "%"),
    ProxyGrant("root", "localhost", "gone", "%"),
)
PASSED = ("no upstream credentials (as MySQL passes over a grant whose proxied account does not "
          "exist)")  # fmt: skip


def test_a_grant_to_an_account_without_credentials_is_passed_over_for_the_next() -> None:
    """MySQL's check_proxy_users goes on when the proxied account does not exist; for the
    bridge, one it holds no upstream credentials for. The reason names the grant passed over."""
    grants = ProxyGrants((INSTALL_DEFAULT, GONE, DBA))
    decision = resolve_proxied(ROOT, None, (), None, grants, {"dba", "root"})
    assert (decision.user, decision.host, decision.proxied) == ("dba", "%", True)
    assert (
        decision.reason == f"PROXY grant -> 'dba' (PROXY grant on 'gone'@'%' passed over: {PASSED})"
    )
    first = resolve_proxied(ROOT, None, (), None, ProxyGrants((DBA, GONE)), {"dba"})
    assert first.reason == "PROXY grant -> 'dba'"  # a later grant is not looked at
    everyone = resolve_proxied(ROOT, None, (), None, grants)  # no names given: all exist
    assert (everyone.user, everyone.reason) == ("gone", "PROXY grant -> 'gone'")


def test_when_every_grant_is_passed_over_the_row_logs_in_as_itself() -> None:
    gone2 = ProxyGrant("root", "localhost", "gone2", "h")
    grants = ProxyGrants((GONE, INSTALL_DEFAULT, gone2))
    decision = resolve_proxied(ROOT, None, (), None, grants, {"root"})
    assert (decision.user, decision.host, decision.proxied) == ("root", "localhost", False)
    assert decision.reason == (f"no mapping (PROXY grant on 'gone'@'%', 'gone2'@'h' passed over: "
                               f"{PASSED}): the account itself")  # fmt: skip


def test_a_group_mapping_to_an_account_without_credentials_is_not_passed_over() -> None:
    """Only the built-in plugins' search passes over grants: a mapping names its account."""
    grants = ProxyGrants((ProxyGrant("plug", "%", "gone", "%"),))
    rule = MappingRule("mysql", (GroupMapping(("dba",), "gone"),))
    decision = resolve_proxied(row("plug"), rule, ("dba",), None, grants, {"plug"})
    assert (decision.user, decision.proxied) == ("gone", True)
