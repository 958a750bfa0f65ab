"""Authentication strings that map an external identity's groups to MySQL accounts, in the
syntaxes MySQL's own plugins use, parsed into one rule model.

- PAM (authentication_pam, MariaDB pam):  'service, grp1=acct1, "grp 2"=acct2'
- LDAP (authentication_ldap_simple):      '<dn part>#grp=acct,g1+g2=acct,grp'
  where the DN part is '' (search under the base DN), '+suffix' (DN built from the user
  search attribute and the suffix) or a full DN.
- Kerberos (authentication_kerberos):     'REALM' or 'user@REALM', then PAM-style mappings.
- OpenID Connect (authentication_openid_connect): MySQL's JSON, with an optional "mapping"
  in the LDAP syntax.

The first mapping whose groups the identity all has wins, in string order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass


class AuthStringError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class GroupMapping:
    groups: tuple[str, ...]  # the identity needs every one of them
    account: str  # the MySQL user name it maps to


@dataclass(frozen=True, slots=True)
class MappingRule:
    target: str  # the PAM service, the LDAP DN part, or the Kerberos realm or principal
    mappings: tuple[GroupMapping, ...] = ()

    def account_for(self, groups: Iterable[str]) -> str | None:
        have = set(groups)
        for mapping in self.mappings:
            if have.issuperset(mapping.groups):
                return mapping.account
        return None


def _split(text: str, separator: str) -> list[str]:
    """Split at `separator` outside double quotes; strip blanks around each item."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == separator and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if quoted:
        raise AuthStringError("unbalanced double quote")
    items.append("".join(current).strip())
    return items


def _partition(text: str, separator: str) -> tuple[str, str, str]:
    """str.partition at the first `separator` outside double quotes."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == separator and not quoted:
            return text[:i], separator, text[i + 1 :]
    return text, "", ""


def _name(text: str, what: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    if not text:
        raise AuthStringError(f"empty {what}")
    return text


def _pam_mapping(item: str) -> GroupMapping:
    group, sep, account = _partition(item, "=")
    if not sep:
        raise AuthStringError(f"'{item}' is not group=account")
    return GroupMapping((_name(group, "group name"),), _name(account, "account name"))


def _items(text: str) -> tuple[str, list[str]]:
    """The first item, and the others (none of which may be empty)."""
    head, *rest = _split(text, ",")
    if any(not item for item in rest):
        raise AuthStringError("empty item between commas")
    return head, rest


def parse_pam(text: str) -> MappingRule:
    """No service given (target '') means the PAM backend's configured service."""
    head, rest = _items(text)
    service = _name(head, "PAM service name") if head else ""
    return MappingRule(service, tuple(_pam_mapping(i) for i in rest))


def _ldap_mapping(item: str) -> GroupMapping:
    groups, sep, account = _partition(item, "=")
    names = tuple(_name(g, "group name") for g in _split(groups, "+"))
    if not sep:
        if len(names) != 1:
            raise AuthStringError(f"'{item}' needs '=account' (several groups)")
        return GroupMapping(names, names[0])  # a bare group maps to the account of its name
    return GroupMapping(names, _name(account, "account name"))


def _unescaped_hash(text: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "#":
            return i
        i += 1
    return -1


_ATTRIBUTE_TYPE = re.compile(r"\s*(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)\s*=")


def _dn_pieces(dn: str, separators: str) -> list[str]:
    r"""`dn` cut at the separators that are not escaped (`\,`) nor inside double quotes
    (RFC 1779's "a, b")."""
    pieces, start, quoted, i = [], 0, False, 0
    while i < len(dn):
        ch = dn[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch in separators and not quoted:
            pieces.append(dn[start:i])
            start = i + 1
        i += 1
    return [*pieces, dn[start:]]


def _check_dn_part(dn_part: str) -> str:
    """'' (search), '+suffix' or a DN: each RDN `type=value` (`cn=a+sn=b` for several). A
    DN part that is none of these binds as nobody: every login of the row would be 1045,
    with `check` silent, e.g. MySQL's PAM syntax on an LDAP row ('mysql, dba=developer')."""
    dn = dn_part[1:] if dn_part.startswith("+") else dn_part
    if not dn:
        return dn_part
    for rdn in _dn_pieces(dn, ","):
        for value in _dn_pieces(rdn, "+"):
            if not _ATTRIBUTE_TYPE.match(value):
                raise AuthStringError(
                    f"{dn_part!r} is not a DN: {value.strip()!r} is not attribute=value. An "
                    "LDAP row's string is the user's DN, '+suffix' or nothing, then '#' and "
                    "the group mapping ('#dba=developer,users=data_entry'); "
                    "'service, group=account' is the syntax of authentication_pam rows"
                )
    return dn_part


def parse_ldap(text: str) -> MappingRule:
    cut = _unescaped_hash(text)
    if cut < 0:
        return MappingRule(_check_dn_part(text.strip()))
    dn_part, mappings = _check_dn_part(text[:cut].strip()), text[cut + 1 :]
    if not mappings.strip():
        return MappingRule(dn_part)
    return MappingRule(dn_part, tuple(_ldap_mapping(i) for i in _items("," + mappings)[1]))


def parse_kerberos(text: str) -> MappingRule:
    head, rest = _items(text)
    return MappingRule(head, tuple(_pam_mapping(i) for i in rest))


@dataclass(frozen=True, slots=True)
class OidcAuthString:
    """MySQL's authentication_openid_connect string, '{"identity_provider": "<name>",
    "user": "<value of the identity claim>"}', and the bridge's optional "mapping" of groups
    to accounts in the LDAP syntax ('developers=developer,g1+g2=acct,grp')."""

    provider: str
    user: str  # '': the client's user name must be the identity claim's value
    rule: MappingRule


OIDC_KEYS = frozenset({"identity_provider", "user", "mapping"})


def parse_oidc(text: str) -> OidcAuthString:
    try:
        data = json.loads(text)
    except ValueError as exc:
        expected = '{"identity_provider": "<name>", "user": "<subject>"}'
        raise AuthStringError(f"not JSON: expected {expected}") from exc
    if not isinstance(data, dict):
        raise AuthStringError("expected a JSON object with identity_provider")
    unknown = sorted(set(data) - OIDC_KEYS)
    if unknown:
        raise AuthStringError(f"unknown key(s) {', '.join(unknown)} (known: "
                              f"{', '.join(sorted(OIDC_KEYS))})")  # fmt: skip
    provider, user, mapping = (data.get(k, "") for k in ("identity_provider", "user", "mapping"))
    if not isinstance(provider, str) or not provider:
        raise AuthStringError("identity_provider must name a configured provider")
    if not isinstance(user, str) or not isinstance(mapping, str):
        raise AuthStringError("user and mapping must be strings")
    mappings = parse_ldap("#" + mapping).mappings  # '' and blanks: none
    return OidcAuthString(provider, user, MappingRule(provider, mappings))


def parse_oidc_rule(text: str) -> MappingRule:
    return parse_oidc(text).rule
