"""Edges of the authentication-string syntaxes (docs/mapping.md): where '#' cuts an LDAP
string, which '=' splits a mapping, blanks and double quotes around names."""

from __future__ import annotations

import pytest

from bridge.mapping.auth_string import (
    AuthStringError,
    GroupMapping,
    MappingRule,
    parse_kerberos,
    parse_ldap,
    parse_pam,
)
from bridge.mapping.auth_string import _dn_pieces as _dn_pieces


def gm(account: str, *groups: str) -> GroupMapping:
    return GroupMapping(groups, account)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # '#' at any position: the first unescaped one ends the DN part
        ("#", MappingRule("")),
        ("#  ", MappingRule("")),
        ("cn=x#", MappingRule("cn=x")),  # 'DN#' with no mappings: no proxying
        ("cn=x,dc=t  #  ", MappingRule("cn=x,dc=t")),
        ("#g", MappingRule("", (gm("g", "g"),))),
        ("+ou=p#g=a", MappingRule("+ou=p", (gm("a", "g"),))),
        ("cn=a#b#c=d", MappingRule("cn=a", (gm("d", "b#c"),))),  # later '#': the mappings
        # a backslash-escaped '#' is part of the DN (RFC 4514), escape kept for the server
        (r"cn=a\#b,dc=x#g=acct", MappingRule(r"cn=a\#b,dc=x", (gm("acct", "g"),))),
        (r"cn=a\\#g", MappingRule(r"cn=a\\", (gm("g", "g"),))),  # an escaped backslash
        (r"cn=x\#", MappingRule(r"cn=x\#")),
        ("cn=x\\", MappingRule("cn=x\\")),  # a trailing lone backslash is not an escape
        # the first '=' splits; what follows is the account name
        ("#a=b=c", MappingRule("", (gm("b=c", "a"),))),
        # blanks around DN, names and separators are not part of them
        (" dc=x # g = a , h ", MappingRule("dc=x", (gm("a", "g"), gm("h", "h")))),
        ("# g1 + g2 = both ", MappingRule("", (gm("both", "g1", "g2"),))),
        # double quotes keep blanks, '=', ',' and '+' inside a name
        ('#"g 1"+g2=acct', MappingRule("", (gm("acct", "g 1", "g2"),))),
        ('#"a=b"=c', MappingRule("", (gm("c", "a=b"),))),
        ('#"x,y"="p+q"', MappingRule("", (gm("p+q", "x,y"),))),
        ('#"g+h"', MappingRule("", (gm("g+h", "g+h"),))),
    ],
)
def test_ldap_edges(text: str, expected: MappingRule) -> None:
    assert parse_ldap(text) == expected


@pytest.mark.parametrize(
    "bad",
    ["#a=b,", "#,a=b", '#"a=b', "# = b", "#a= ", "#a+=b", '#""=b', "#a=b,,c"],
)
def test_ldap_mapping_errors(bad: str) -> None:
    with pytest.raises(AuthStringError):
        parse_ldap(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", MappingRule("")),  # the backend's configured service
        ("  ", MappingRule("")),
        (",a=b", MappingRule("", (gm("b", "a"),))),  # no service, mappings
        ("mysql", MappingRule("mysql")),
        ("mysql, a=b=c", MappingRule("mysql", (gm("b=c", "a"),))),
        ('mysql,"a=b"=c', MappingRule("mysql", (gm("c", "a=b"),))),
        (' "my svc" , "g 1" = " acct " ', MappingRule("my svc", (gm(" acct ", "g 1"),))),
        ('"Domain Users"="data entry"', None),  # a mapping needs a service item first
        (
            'mysql,"Domain Users"="data entry"',
            MappingRule("mysql", (gm("data entry", "Domain Users"),)),
        ),
        ("mysql,a=x,a=y", MappingRule("mysql", (gm("x", "a"), gm("y", "a")))),
    ],
)
def test_pam_edges(text: str, expected: MappingRule | None) -> None:
    if expected is None:
        assert parse_pam(text).mappings == ()
    else:
        assert parse_pam(text) == expected


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("mysql,", "empty item between commas"),
        ("mysql, a=b,", "empty item between commas"),
        ("mysql,,a=b", "empty item between commas"),
        ('"mysql', "unbalanced double quote"),
        ("mysql, a", "'a' is not group=account"),
        ("mysql, =b", "empty group name"),
        ("mysql, a=", "empty account name"),
        ('mysql, ""=b', "empty group name"),
        ('mysql, a=""', "empty account name"),
        ('"", a=b', "empty PAM service name"),
    ],
)
def test_pam_errors_say_what_is_wrong(bad: str, message: str) -> None:
    with pytest.raises(AuthStringError) as caught:
        parse_pam(bad)
    assert str(caught.value) == message


def test_ldap_several_groups_without_account_say_so() -> None:
    with pytest.raises(AuthStringError) as caught:
        parse_ldap("#g1+g2")
    assert str(caught.value) == "'g1+g2' needs '=account' (several groups)"


def test_kerberos_target_and_mappings() -> None:
    assert parse_kerberos(" alice@EXAMPLE.TEST ") == MappingRule("alice@EXAMPLE.TEST")
    assert parse_kerberos('EXAMPLE.TEST, dba=developer, "a b"=c') == MappingRule(
        "EXAMPLE.TEST", (gm("developer", "dba"), gm("c", "a b"))
    )
    assert parse_kerberos("") == MappingRule("")
    with pytest.raises(AuthStringError):
        parse_kerberos("EXAMPLE.TEST, dba")


@pytest.mark.parametrize(
    ("groups", "account"),
    [
        ((), None),
        (("g2",), None),
        (("g1",), "one"),
        (("g2", "g1"), "both"),
        (("g1", "g2", "x"), "both"),
    ],
)
def test_account_for_needs_every_group_of_a_mapping(
    groups: tuple[str, ...], account: str | None
) -> None:
    rule = parse_ldap("#g1+g2=both,g1=one")
    assert rule.account_for(groups) == account
    assert rule.account_for(iter(groups)) == account  # any iterable, consumed once


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("#a+ =b", "empty group name"),
        ("#a=", "empty account name"),
        ('#g=""', "empty account name"),
    ],
)
def test_ldap_errors_say_what_is_wrong(bad: str, message: str) -> None:
    with pytest.raises(AuthStringError) as caught:
        parse_ldap(bad)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "text",
    ["mysql, dba=developer, users=data_entry",  # MySQL's PAM syntax on an LDAP row
     "mysql#dba=developer", "developers", "+people", "dc=example,,dc=com", "cn=a+,dc=x",
     "uid=x,dc=y, =z"],
)  # fmt: skip
def test_an_ldap_dn_part_that_is_no_dn_is_refused(text: str) -> None:
    """It would bind as nobody: every login of the row 1045, and `check` said OK."""
    with pytest.raises(AuthStringError, match=r"is not a DN: .* is not attribute=value"):
        parse_ldap(text)


@pytest.mark.parametrize(
    "text",
    ["", "+", "#g=a", "uid=x,dc=y", "+ou=people,dc=example,dc=com#g=a", "cn=a+sn=b,dc=x",
     r"CN=Smith\, John,OU=Users,DC=ad,DC=test", 'OU="a, b",dc=x', "1.3.6.1.4.1.1=x,dc=y",
     " uid = x , dc = y #g", "dba=developer, users=data_entry",  # a DN, syntactically
     "+o=people,dc=x", "cn=Xavier+sn=X,dc=x", r"cn=a\,,dc=x"],
)  # fmt: skip
def test_ldap_dn_parts_that_are_dns_are_kept(text: str) -> None:
    assert parse_ldap(text).target == text.split("#")[0].strip()


def test_the_dn_error_says_the_ldap_syntax() -> None:
    with pytest.raises(AuthStringError) as err:
        parse_ldap("mysql, dba=developer")
    assert str(err.value) == (
        "'mysql, dba=developer' is not a DN: 'mysql' is not attribute=value. An LDAP row's "
        "string is the user's DN, '+suffix' or nothing, then '#' and the group mapping "
        "('#dba=developer,users=data_entry'); 'service, group=account' is the syntax of "
        "authentication_pam rows"
    )


@pytest.mark.parametrize(
    ("dn", "pieces"),
    [("a=1,b=2", ["a=1", "b=2"]), (",x", ["", "x"]), (r"a\,b,c", [r"a\,b", "c"]),
     (r"a\,,b", [r"a\,", "b"]), ('o="p, q",c=r', ['o="p, q"', "c=r"])],
)  # fmt: skip
def test_dn_pieces_cut_at_unescaped_unquoted_separators(dn: str, pieces: list[str]) -> None:
    assert _dn_pieces(dn, ",") == pieces
