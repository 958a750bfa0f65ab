"""`check --online` for Kerberos: prove that the KDC and the bridge's keytab agree on the
service's key, on MIT Kerberos and on Active Directory alike.

The proof has the shape of a login: a service ticket for the service principal, issued by
the KDC, accepted with the keytab. Only the KDC can make a ticket the keytab opens. What
differs is who asks the KDC for the ticket, tried in this order:

1. the service principal itself, with the keytab's key (MIT: any principal is a client);
2. Active Directory takes no SPN as a client name ("Client ... not found in Kerberos
   database"); then another principal of the realm in the same keytab: the service
   account's own name, exported next to the SPN (`--principal=svc-mysql`);
3. else the LDAP service account (backends.ldap's bind_dn, found by its sAMAccountName),
   with its password;
4. else nothing can ask: only the keytab's own entries are checked, and that is said in a
   warning, never passed off as a proof.

Blocking (GSSAPI talks to the KDC): called in a worker thread."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gssapi
import gssapi.raw
from gssapi.raw.misc import GSSError

from bridge.backends.kerberos import gss_reason
from bridge.config import KerberosConfig
from bridge.keytab import WEAK, KeytabEntry, KeytabError, describe, parse_keytab

# MIT's krb5 error table (ERROR_TABLE_BASE_krb5 = -1765328384), as GSSAPI minor codes
_KRB5 = 2529638912
C_PRINCIPAL_UNKNOWN = _KRB5 + 6  # KDC_ERR_C_PRINCIPAL_UNKNOWN: AD, for an SPN as client
HINTS = {
    _KRB5 + 7: "the KDC knows no such service principal: add the SPN (setspn -S, samba-tool "
    "spn add, kadmin addprinc)",
    _KRB5 + 14: "the KDC and the keytab share no encryption type (on Active Directory: "
    "msDS-SupportedEncryptionTypes, docs/kerberos.md)",
    _KRB5 + 24: "the keytab's key is not the KDC's: the keytab is stale (the account's "
    "password or key changed since it was exported): export it again",
    _KRB5 + 31: "the keytab's key is not the KDC's: the keytab is stale: export it again",
    _KRB5 + 44: "the KDC's key version is not in the keytab: the keytab is stale (the "
    "account's password or key changed since it was exported): export it again",
    _KRB5 + 182: "the keytab holds another key version than the KDC's: the keytab is stale: "
    "export it again",
}
HINTS[_KRB5 + 45] = HINTS[_KRB5 + 44]  # KRB5KRB_AP_ERR_NOKEY
# Refusals of an initial ticket that mean a wrong key, which is the keytab's only when the
# keytab's key asked (with a password, it is the password)
WRONG_KEY = frozenset({_KRB5 + 24, _KRB5 + 31, _KRB5 + 182})

LdapAccount = Callable[[], "tuple[str, str] | None"]  # (principal, password), when there is one


class KeytabRefused(Exception):
    """The KDC and the keytab do not agree (or the keytab cannot be used): the error line."""


@dataclass
class Verdict:
    proven: bool
    text: str  # what was proven (an 'ok:' line), or why nothing could be (a warning)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Asker:
    principal: str
    how: str  # with what, for the report
    credentials: Callable[[], gssapi.Credentials]
    keytab_key: bool = True  # asks with the keytab's key (else a password)


def prove_keytab(config: KerberosConfig, ldap_account: LdapAccount) -> Verdict:
    service = config.service_principal
    entries = _entries(config.keytab, service)
    held = describe(entries, service)
    refused: list[str] = []  # principals the KDC does not take as clients
    for asker in _askers(config, entries, ldap_account):
        try:
            token = _request_ticket(service, asker.credentials())
        except GSSError as exc:
            if exc.min_code == C_PRINCIPAL_UNKNOWN:
                refused.append(asker.principal)
                continue
            raise KeytabRefused(f"no service ticket for {service} with {config.keytab}, asked "
                                f"for as {asker.principal}: "
                                f"{_explained(exc, asker.keytab_key)}") from None  # fmt: skip
        _accept(config, token, held)
        not_as = f"; the KDC takes no {', '.join(refused)} as a client" if refused else ""
        return Verdict(True, f"Kerberos service ticket for {service} from the KDC (asked for "
                             f"as {asker.principal} {asker.how}{not_as}), accepted with "
                             f"{config.keytab} ({held})", _weak(entries, service))  # fmt: skip
    return _unproven(config, held, refused, entries)


def _entries(keytab: Path, service: str) -> list[KeytabEntry]:
    try:
        entries = parse_keytab(keytab.read_bytes())
    except (OSError, KeytabError) as exc:
        raise KeytabRefused(f"cannot read the keytab {keytab}: {exc}") from None
    if not any(e.principal == service for e in entries):
        names = sorted({e.principal for e in entries}) or ["nothing"]
        raise KeytabRefused(f"{keytab} holds no key for {service} (it holds {', '.join(names)})")
    return entries


def _askers(
    config: KerberosConfig, entries: list[KeytabEntry], ldap_account: LdapAccount
) -> Iterator[_Asker]:
    """Who may ask the KDC for the ticket, in order (see the module's docstring)."""
    realm, keytab = f"@{config.realm}", config.keytab
    yield _Asker(config.service_principal, "with the keytab's key", _from_keytab(config, None))
    others = dict.fromkeys(e.principal for e in entries if e.principal.endswith(realm))
    for principal in others:
        if principal != config.service_principal and not principal.startswith("krbtgt/"):
            yield _Asker(principal, f"with its key in {keytab}", _from_keytab(config, principal))
    account = ldap_account()
    if account is not None:
        principal, password = account
        how = "with backends.ldap's service-account password"
        yield _Asker(principal, how, lambda: _with_password(principal, password), False)


def _from_keytab(config: KerberosConfig, principal: str | None) -> Callable[[], gssapi.Credentials]:
    name = _name(principal or config.service_principal)
    store: dict[bytes | str, bytes | str] = {
        "client_keytab": str(config.keytab),
        "ccache": f"MEMORY:check-{uuid.uuid4().hex}",
    }
    return lambda: gssapi.Credentials(name=name, usage="initiate", store=store)


def _with_password(principal: str, password: str) -> gssapi.Credentials:
    name, secret = _name(principal), password.encode()
    raw = gssapi.raw.acquire_cred_with_password(name, secret, usage="initiate")
    return gssapi.Credentials(base=raw.creds)


def _request_ticket(service: str, creds: gssapi.Credentials) -> bytes:
    """The first token of a context to the service: the KDC's service ticket inside."""
    token = gssapi.SecurityContext(name=_name(service), creds=creds, usage="initiate").step()
    return token or b""


def _accept(config: KerberosConfig, token: bytes, held: str) -> None:
    name = _name(config.service_principal)
    try:
        creds = gssapi.Credentials(name=name, usage="accept", store={"keytab": str(config.keytab)})
        acceptor = gssapi.SecurityContext(creds=creds, usage="accept")
        acceptor.step(token)
        complete = acceptor.complete  # a refusal may surface only here (python-gssapi)
    except GSSError as exc:
        raise KeytabRefused(f"the KDC's service ticket for {config.service_principal} cannot be "
                            f"opened with {config.keytab} (it holds {held}): "
                            f"{_explained(exc)}") from None  # fmt: skip
    if not complete:
        raise KeytabRefused(f"{config.keytab} did not complete a context with the KDC's ticket")


def _unproven(
    config: KerberosConfig, held: str, refused: list[str], entries: list[KeytabEntry]
) -> Verdict:
    """Nobody could ask the KDC: say so, and check what can be checked locally."""
    service = config.service_principal
    _accept_credentials(config)
    text = (f"the keytab's key for {service} is not proven against the KDC: "
            f"it takes no {', '.join(refused)} as a client name (Active Directory takes no "
            f"SPN), and nothing else could ask for a ticket (no other principal of "
            f"{config.realm} in {config.keytab}, no backends.ldap service account with a "
            f"sAMAccountName). Checked only that {config.keytab} holds keys for it ({held}). "
            f"To prove them, export the service account's own name into the keytab too "
            f"(samba-tool domain exportkeytab {config.keytab} --principal=<account>), or "
            f"configure backends.ldap's service account (docs/kerberos.md)")  # fmt: skip
    return Verdict(False, text, _weak(entries, service))


def _accept_credentials(config: KerberosConfig) -> None:
    name = _name(config.service_principal)
    try:
        gssapi.Credentials(name=name, usage="accept", store={"keytab": str(config.keytab)})
    except GSSError as exc:
        raise KeytabRefused(f"{config.keytab} cannot accept for {config.service_principal}: "
                            f"{_explained(exc)}") from None  # fmt: skip


def _weak(entries: list[KeytabEntry], service: str) -> list[str]:
    mine = [e for e in entries if e.principal == service]
    if not mine or not all(e.enctype in WEAK for e in mine):
        return []
    return [f"the keytab holds only weak keys for {service} "
            f"({describe(entries, service)}): Active Directory then issues RC4 tickets; set "
            f"msDS-SupportedEncryptionTypes to 24 on the account and export the keytab again "
            f"(docs/kerberos.md)"]  # fmt: skip


def _explained(exc: GSSError, keytab_key: bool = True) -> str:
    reason = gss_reason(exc)
    hint = HINTS.get(exc.min_code) if keytab_key or exc.min_code not in WRONG_KEY else None
    return f"{reason} ({hint})" if hint else reason


def _name(principal: str) -> gssapi.Name:
    return gssapi.Name(principal, gssapi.NameType.kerberos_principal)
