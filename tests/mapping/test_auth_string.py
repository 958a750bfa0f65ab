"""The authentication-string syntaxes of MySQL's PAM, LDAP, Kerberos and OpenID Connect plugins."""

import pytest

from bridge.mapping.auth_string import (
    AuthStringError,
    GroupMapping,
    MappingRule,
    OidcAuthString,
    parse_kerberos,
    parse_ldap,
    parse_oidc,
    parse_oidc_rule,
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"identity_provider": "corp", "user": "0b1c"}', OidcAuthString("corp", "0b1c", MappingRule("corp"))),
        ('{"identity_provider": "corp"}', OidcAuthString("corp", "", MappingRule("corp"))),
        ('{"identity_provider": "corp", "mapping": " "}', OidcAuthString("corp", "", MappingRule("corp"))),
        ('{"identity_provider": "corp", "mapping": "dev=developer,g1+g2=both,ops"}',
         OidcAuthString("corp", "", MappingRule("corp", (GroupMapping(("dev",), "developer"),
                                                        GroupMapping(("g1", "g2"), "both"),
                                                        GroupMapping(("ops",), "ops"))))),
    ],
)  # fmt: skip
def test_oidc(text: str, expected: OidcAuthString) -> None:
    assert parse_oidc(text) == expected
    assert parse_oidc_rule(text) == expected.rule


NOT_JSON = 'not JSON: expected {"identity_provider": "<name>", "user": "<subject>"}'
NAME = "identity_provider must name a configured provider"
STRINGS = "user and mapping must be strings"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("corp", NOT_JSON),
        ("[]", "expected a JSON object with identity_provider"),
        ('"corp"', "expected a JSON object with identity_provider"),
        ("{}", NAME),
        ('{"identity_provider": ""}', NAME),
        ('{"identity_provider": 1}', NAME),
        ('{"identity_provider": "c", "user": 5}', STRINGS),
        ('{"identity_provider": "c", "mapping": ["a"]}', STRINGS),
        ('{"identity_provider": "c", "groups": "a=b", "x": 1}',
         "unknown key(s) groups, x (known: identity_provider, mapping, user)"),
        ('{"identity_provider": "c", "mapping": "a=,b"}', "empty account name"),
    ],
)  # fmt: skip
def test_oidc_refused(text: str, message: str) -> None:
    with pytest.raises(AuthStringError) as caught:
        parse_oidc(text)
    assert str(caught.value) == message
