"""groups_from: memberof: which memberOf values count, and the names read from them; and
Active Directory's userAccountControl, read for logins that do not bind (Kerberos)."""

from __future__ import annotations

from bridge.backends.ldap import member_of_names, unescape_dn_value

USERS = "CN=Users,DC=ad,DC=test"
MEMBER_OF = [
    f"CN=dbas,{USERS}",
    "CN=dbadmins,OU=Delegated,DC=ad,DC=test",  # same name as a mapped group, elsewhere
    f"CN=db\\+ops,{USERS}",
    f"CN=caf\\C3\\A9,{USERS}",
    "CN=dbadmins,CN=Users,DC=child,DC=ad,DC=test",  # another domain of the forest
    USERS,  # the container itself is not under it
    "not a DN",
]


def test_without_a_group_search_base_every_group_counts_by_its_name() -> None:
    assert member_of_names(MEMBER_OF, None) == ("dbas", "dbadmins", "db+ops", "café", "Users")


def test_with_a_group_search_base_only_the_groups_under_it() -> None:
    expected = ("dbas", "db+ops", "café")
    assert member_of_names(MEMBER_OF, USERS) == expected
    assert member_of_names(MEMBER_OF, "cn=users, dc=AD,dc=Test") == expected  # as LDAP compares
    whole_domain = ("dbas", "dbadmins", "db+ops", "café", "Users")  # child.ad.test is under it
    assert member_of_names(MEMBER_OF, "DC=ad,DC=test") == whole_domain


def test_a_multi_valued_rdn_is_one_level_never_the_base_and_one_below() -> None:
    """`cn=dbadmins+ou=Groups,DC=ad,DC=test` sits beside OU=Groups, not under it."""
    base = "OU=Groups,DC=ad,DC=test"
    beside = ["cn=dbadmins+ou=Groups,DC=ad,DC=test", "ou=Groups+cn=dbadmins,DC=ad,DC=test"]
    assert member_of_names(beside, base) == ()
    assert member_of_names(["cn=a\\+b+ou=x,OU=Groups,DC=ad,DC=test"], base) == ("a+b",)
    multi_base = "ou=Groups+l=Paris,DC=ad,DC=test"  # the values of an RDN in any order
    assert member_of_names(["CN=dbas,l=paris+OU=groups,DC=ad,DC=test"], multi_base) == ("dbas",)


def test_an_escaped_comma_is_part_of_the_name_never_a_level() -> None:
    """`cn=dbas\\,CN\\=Users,OU=Delegated,...` is a group named 'dbas,CN=Users' in the
    delegated OU: neither 'dbas' nor under CN=Users. (With a bare '=', which ldap3 does not
    parse, the value is no DN and the group does not count at all.)"""
    crafted = ["cn=dbas\\,CN\\=Users,OU=Delegated,DC=ad,DC=test"]
    assert member_of_names(crafted, None) == ("dbas,CN=Users",)
    assert member_of_names(crafted, USERS) == ()
    assert member_of_names(["cn=dbas\\,CN=Users,OU=Delegated,DC=ad,DC=test"], None) == ()


def test_a_group_search_base_that_is_no_dn_lets_no_group_through() -> None:
    assert member_of_names(MEMBER_OF, "users") == ()


def test_rfc4514_escapes_are_read_back() -> None:
    assert unescape_dn_value("a\\,b") == "a,b"
    assert unescape_dn_value("a\\2Cb") == "a,b"
    assert unescape_dn_value("\\#x\\ ") == "#x "
    assert unescape_dn_value("caf\\C3\\A9") == "café"
    assert unescape_dn_value("\\\\") == "\\"


def test_user_account_control_disabled_bit() -> None:
    from bridge.backends.ldap import disabled

    assert not disabled({})  # OpenLDAP: no such attribute
    assert not disabled({"userAccountControl": []})
    assert not disabled({"userAccountControl": ["512"]})  # NORMAL_ACCOUNT
    assert disabled({"userAccountControl": ["514"]})  # NORMAL_ACCOUNT | ACCOUNTDISABLE
    assert disabled({"userAccountControl": 66050})  # DONT_EXPIRE_PASSWORD too
    assert disabled({"userAccountControl": ["not a number"]})  # not what AD writes: refused
