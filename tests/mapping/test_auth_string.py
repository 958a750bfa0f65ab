"""The authentication-string syntaxes of MySQL's PAM, LDAP and Kerberos plugins."""

import pytest

from bridge.mapping.auth_string import (
    AuthStringError,
    GroupMapping,
    MappingRule,
    parse_kerberos,
    parse_ldap,
    parse_pam,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mysql", MappingRule("mysql")),
        ("", MappingRule("")),
        ("mysql, dba=developer, users=data_entry",
         MappingRule("mysql", (GroupMapping(("dba",), "developer"), GroupMapping(("users",), "data_entry")))),
        ('"my, svc", "Domain Admins"="db admin"',
         MappingRule("my, svc", (GroupMapping(("Domain Admins",), "db admin"),))),
        ("  mysql ,  root = developer ", MappingRule("mysql", (GroupMapping(("root",), "developer"),))),
    ],
)  # fmt: skip
def test_pam(text: str, expected: MappingRule) -> None:
    assert parse_pam(text) == expected


@pytest.mark.parametrize(
    "bad", ["mysql,,a=b", "mysql, a", "mysql, =b", "mysql, a=", 'x, "a=b', "mysql,"]
)
def test_pam_errors(bad: str) -> None:
    with pytest.raises(AuthStringError):
        parse_pam(bad)


@pytest.mark.parametrize(
    ("text", "target", "mappings"),
    [
        ("", "", ()),
        ("uid=alice,ou=people,dc=example,dc=com", "uid=alice,ou=people,dc=example,dc=com", ()),
        ("+ou=people,dc=example,dc=com#dbadmins=developer,readers",
         "+ou=people,dc=example,dc=com",
         (GroupMapping(("dbadmins",), "developer"), GroupMapping(("readers",), "readers"))),
        ("#g1+g2=both, g3", "", (GroupMapping(("g1", "g2"), "both"), GroupMapping(("g3",), "g3"))),
        (r"cn=a\#b,dc=x#g=acct", r"cn=a\#b,dc=x", (GroupMapping(("g",), "acct"),)),
    ],
)  # fmt: skip
def test_ldap(text: str, target: str, mappings: tuple[GroupMapping, ...]) -> None:
    assert parse_ldap(text) == MappingRule(target, mappings)


@pytest.mark.parametrize("bad", ["#g1+g2", "#a=b,,c", "#+a=b", "#a=", "#=b"])
def test_ldap_errors(bad: str) -> None:
    with pytest.raises(AuthStringError):
        parse_ldap(bad)


def test_kerberos() -> None:
    assert parse_kerberos("EXAMPLE.COM") == MappingRule("EXAMPLE.COM")
    assert parse_kerberos("karl@EXAMPLE.COM, dba=developer").mappings == (
        GroupMapping(("dba",), "developer"),
    )


@pytest.mark.parametrize(
    ("groups", "account"),
    [
        ({"users"}, "data_entry"),
        ({"dba", "users"}, "developer"),  # first matching group in string order wins
        ({"users", "dba"}, "developer"),  # whatever order the backend lists them in
        ({"staff"}, None),
        (set(), None),
    ],
)
def test_first_matching_group_in_string_order(groups: set[str], account: str | None) -> None:
    assert parse_pam("mysql, dba=developer, users=data_entry").account_for(groups) == account


def test_all_groups_of_a_plus_mapping_are_needed() -> None:
    rule = parse_ldap("#g1+g2=both,g1=one")
    assert rule.account_for({"g1", "g2"}) == "both"
    assert rule.account_for({"g1"}) == "one"
    assert rule.account_for({"g2"}) is None
