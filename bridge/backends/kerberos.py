"""Kerberos: single sign-on through GSSAPI with the bridge's keytab, and password logins that
are verified against the keytab too (a TGT alone proves nothing: whoever answers for the
KDC could forge one), then the principal checked against the account row."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gssapi
import gssapi.raw
from gssapi.raw.misc import GSSError

from bridge.backends.base import Identity, Peer
from bridge.config import KerberosConfig, check_private
from bridge.credentials import ClearPassword, Credential, GssapiName
from bridge.errors import AccountDisabled, BackendUnavailable, Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import parse_kerberos

log = logging.getLogger("bridge.backends.kerberos")
_OUTAGE_TEXT = ("Cannot contact any KDC", "Cannot find KDC", "Cannot resolve network address")


class Acceptor:
    """One GSSAPI acceptor context: step() each client token; complete; initiator."""

    def __init__(self, creds: gssapi.Credentials) -> None:
        self._ctx = gssapi.SecurityContext(creds=creds, usage="accept")

    def step(self, token: bytes) -> bytes | None:
        try:
            out: bytes | None = self._ctx.step(token)
        except GSSError as exc:
            raise Denied(f"GSSAPI token refused: {gss_reason(exc)}") from None
        return out

    @property
    def complete(self) -> bool:
        return bool(self._ctx.complete)

    @property
    def initiator(self) -> str:
        return str(self._ctx.initiator_name)


class KerberosBackend:
    name = "kerberos"
    accepts: tuple[type[Credential], ...] = (GssapiName, ClearPassword)

    def __init__(self, config: KerberosConfig, ldap: Any = None) -> None:
        self.config = config
        check_private(config.keytab)
        self.service = gssapi.Name(config.service_principal, gssapi.NameType.kerberos_principal)
        self.creds = gssapi.Credentials(usage="accept", name=self.service,
                                        store={"keytab": str(config.keytab)})  # fmt: skip
        self.pool = ThreadPoolExecutor(config.threads, thread_name_prefix="krb")
        self.ldap = ldap  # an LdapBackend, when groups come from the directory

    # --- for the wire methods -------------------------------------------------------------

    @property
    def service_principal(self) -> str:
        return self.config.service_principal

    @property
    def realm(self) -> str:
        return self.config.realm

    def acceptor(self) -> Acceptor:
        return Acceptor(self.creds)

    # --- the backend contract -------------------------------------------------------------

    async def verify(
        self, credential: Credential, user: str, row: AccountRow, peer: Peer
    ) -> Identity:
        if isinstance(credential, ClearPassword):
            principal = await self._password_login(user, row, credential.password)
        else:
            assert isinstance(credential, GssapiName)
            principal = credential.principal
        name = self._check_principal(principal, user, row)
        return Identity(name, await self._groups(principal, row), self.name)

    @property
    def keeps_groups(self) -> bool:
        """Whether logins are mapped by groups at all: the LDAP groups, when configured."""
        return self.config.groups_from_ldap and self.ldap is not None

    async def lookup(self, user: str, row: AccountRow) -> tuple[str, ...]:
        """The groups a login as `user` would be mapped by, without a ticket or password
        (`explain --check-backend`): the directory's groups of the principal's user part."""
        principal = user if "@" in user else f"{user}@{self.config.realm}"
        return await self._groups(principal, row)

    async def _groups(self, principal: str, row: AccountRow) -> tuple[str, ...]:
        """Authorise with LDAP groups when configured; a principal the directory does not
        know has none (the Kerberos login itself stands)."""
        if not self.keeps_groups:
            return ()
        try:
            groups: tuple[str, ...] = await self.ldap.lookup(principal.partition("@")[0], row, "")
        except AccountDisabled:
            raise  # a ticket from before the account was disabled: refused
        except Denied:
            return ()
        return groups

    def _check_principal(self, principal: str, user: str, row: AccountRow) -> str:
        """Which principals a row takes (MySQL's and MariaDB's rules, realms allow-listed)."""
        short, _, realm = principal.rpartition("@")
        target = parse_kerberos(row.authentication_string.decode("utf-8")).target
        if "@" in target:  # MariaDB-style AS 'user@REALM': exactly this principal
            if principal != target:
                raise Denied(f"principal '{principal}' is not '{target}'")
            return principal
        allowed = (target,) if target else self.config.realms or (self.config.realm,)
        if realm not in allowed:
            raise Denied(f"realm '{realm}' of '{principal}' is not accepted ({', '.join(allowed)})")
        if row.user:  # a named account: the principal's user part is the account's name
            if short != row.user:
                raise Denied(f"principal '{principal}' may not log in as '{row.user}'")
            return principal
        return short if self.config.strip_realm else principal

    async def _password_login(self, user: str, row: AccountRow, password: bytes) -> str:
        if not password:
            raise Denied("empty password: not sent to the KDC")
        target = parse_kerberos(row.authentication_string.decode("utf-8")).target
        realm = target.rpartition("@")[2] if "@" in target else target or self.config.realm
        principal = target if "@" in target else f"{user}@{realm}"
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.config.timeout):
                return await loop.run_in_executor(
                    self.pool, self._verify_password, principal, password
                )
        except TimeoutError as exc:
            raise BackendUnavailable("the KDC did not answer in time") from exc

    def _verify_password(self, principal: str, password: bytes) -> str:
        """Get a TGT with the password, then a service ticket for the bridge's own principal,
        and accept it with the keytab: only the real KDC can make that ticket."""
        name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
        try:
            raw = gssapi.raw.acquire_cred_with_password(name, password, usage="initiate").creds
            tgt = gssapi.Credentials(base=raw)
            initiator = gssapi.SecurityContext(name=self.service, creds=tgt, usage="initiate")
            acceptor = self.acceptor()
            token = initiator.step()
            while not acceptor.complete:
                reply = acceptor.step(token or b"")
                if acceptor.complete or reply is None:
                    break
                token = initiator.step(reply)
        except GSSError as exc:
            text = gss_reason(exc)
            if any(marker in text for marker in _OUTAGE_TEXT):
                raise BackendUnavailable(f"KDC unreachable: {text}") from None
            raise Denied(f"Kerberos password login for '{principal}': {text}") from None
        if not acceptor.complete:
            raise Denied("the service ticket did not complete a context")
        return acceptor.initiator


def gss_reason(exc: GSSError) -> str:
    """The GSSAPI minor message (the KDC's or the library's reason), without the major one."""
    minor = getattr(exc, "gen_message", None)
    text = str(exc)
    return text.split("Minor (")[-1].split("): ", 1)[-1] if "Minor (" in text else (minor or text)
