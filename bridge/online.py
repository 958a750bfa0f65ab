"""`check --online`: talk to every server the configuration names, as the first logins
would, so a wrong upstream password or an unreachable directory is found before a user
meets it as ERROR 3169.

- upstream: log in as each account in the credentials file (its password, the TLS mode),
  and ask CURRENT_USER(): the upstream must give the account itself, not another row
  (an anonymous ''@'localhost' matches before 'np'@'%');
- LDAP: bind as the service account;
- Kerberos: get a ticket for the service principal with the keytab's key and accept it;
- PAM: find the service file of every PAM service the accounts name;
- OpenID Connect: fetch every provider's signing keys (discovery, then its JWKS);
- state (Redis/Valkey): PING every URL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bridge.backends.ldap import LdapBackend
from bridge.config import KerberosConfig, read_yaml
from bridge.errors import BackendUnavailable
from bridge.mapping.auth_string import parse_pam
from bridge.protocol.constants import DEFAULT_CHARSET, REQUIRED_FROM_CLIENT, Capability
from bridge.runtime import Runtime
from bridge.upstream.login import LoginRequest, UpstreamError, UpstreamSession, login
from bridge.upstream.whoami import ask_current_user, wrong_account
from bridge.yamlfile import key_line

PAM_DIRS = (Path("/etc/pam.d"), Path("/usr/lib/pam.d"), Path("/lib/pam.d"))
TIMEOUT = 15.0


@dataclass
class OnlineFindings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was proven to work


OnlineCheck = Callable[[Runtime, OnlineFindings], Awaitable[None]]


def _key_line(path: Path, name: str) -> str:
    """'path:line' of a top-level key (the key itself, whatever style its value has)."""
    line = key_line(read_yaml(path)[1], name)
    return f"{path}:{line + 1}" if line is not None else str(path)


async def upstream_logins(rt: Runtime, found: OnlineFindings) -> None:
    """Each account of the credentials file logs in upstream, one after the other. An
    upstream that cannot be reached is reported once."""
    creds_file = rt.config.upstream.credentials
    for user in sorted(rt.credentials):
        request = LoginRequest(
            user=user, password=rt.credentials[user], database=None, charset=DEFAULT_CHARSET,
            client_capabilities=REQUIRED_FROM_CLIENT | Capability.CLIENT_LONG_PASSWORD,
            max_packet=1 << 24, attrs=(("program_name", "mysql-auth-bridge check"),),
        )  # fmt: skip
        try:
            session = await login(rt.upstream, request)
            how = "TLS" if session.conn.tls_active else "no TLS"
            why = await _wrong_account(session, user)
        except UpstreamError as exc:
            if exc.err is None and str(exc).startswith(("cannot connect", "no greeting")):
                found.errors.append(f"upstream.address: {exc}")
                return
            found.errors.append(f"{_key_line(creds_file, user)}: {user}: upstream login: {exc}")
            continue
        if why is not None:
            found.errors.append(f"{_key_line(creds_file, user)}: {user}: upstream login: {why}")
            continue
        found.notes.append(f"upstream login as '{user}' to {rt.upstream.describe()} ({how})")


async def _wrong_account(session: UpstreamSession, user: str) -> str | None:
    """Ask CURRENT_USER() on a fresh login; why it is not `user`'s account, or None."""
    try:
        return wrong_account(user, await ask_current_user(session, TIMEOUT))
    finally:
        session.conn.close()


async def ldap_bind(rt: Runtime, found: OnlineFindings) -> None:
    ldap = rt.backends.get("ldap")
    if not isinstance(ldap, LdapBackend):  # none configured
        return
    try:
        async with asyncio.timeout(TIMEOUT):
            await ldap.check()
    except Exception as exc:
        found.errors.append(f"backends.ldap: the service account's bind failed: {exc}")
        return
    who = rt.config.backends.ldap.bind_dn if rt.config.backends.ldap else None
    found.notes.append(f"LDAP bind as {who or 'anonymous'}")


def _service_ticket(config: KerberosConfig) -> None:
    """Initiate a context to the service with the keytab's own key (a TGT and a service
    ticket from the KDC), and accept it with the keytab: proves the KDC and the keytab agree."""
    import gssapi

    name = gssapi.Name(config.service_principal, gssapi.NameType.kerberos_principal)
    store: dict[bytes | str, bytes | str] = {
        "client_keytab": str(config.keytab),
        "ccache": f"MEMORY:check-{os.getpid()}",
    }
    initiator = gssapi.Credentials(name=name, usage="initiate", store=store)
    acceptor = gssapi.Credentials(name=name, usage="accept", store={"keytab": str(config.keytab)})
    client = gssapi.SecurityContext(name=name, creds=initiator, usage="initiate")
    server = gssapi.SecurityContext(creds=acceptor, usage="accept")
    server.step(client.step())
    if not server.complete:
        raise RuntimeError("the service did not accept its own ticket")


async def kerberos_ticket(rt: Runtime, found: OnlineFindings) -> None:
    config = rt.config.backends.kerberos
    if config is None:
        return
    try:
        async with asyncio.timeout(TIMEOUT):
            await asyncio.to_thread(_service_ticket, config)
    except Exception as exc:
        found.errors.append(
            f"backends.kerberos: no service ticket for {config.service_principal} "
            f"with {config.keytab}: {exc}"
        )
        return
    found.notes.append(f"Kerberos service ticket for {config.service_principal} from the KDC")


def _pam_services(rt: Runtime) -> dict[str, str]:
    """Each PAM service the accounts use -> where it is named."""
    pam = rt.config.backends.pam
    if pam is None:
        return {}
    services: dict[str, str] = {}
    for row in rt.accounts.rows:
        if row.plugin in ("authentication_pam", "pam"):
            named = parse_pam(row.authentication_string.decode("utf-8")).target
            services.setdefault(named or pam.service, row.source)
    return services


async def pam_service_files(rt: Runtime, found: OnlineFindings) -> None:
    wrapper = os.environ.get("PAM_WRAPPER_SERVICE_DIR")  # pam_wrapper's sandbox, if in use
    dirs = (Path(wrapper),) if wrapper else PAM_DIRS
    for service, source in _pam_services(rt).items():
        found_in = next((d / service for d in dirs if (d / service).is_file()), None)
        if found_in is None:
            where = " or ".join(str(d) for d in dirs)
            found.errors.append(f"{source}: PAM service '{service}' has no file in {where}")
        else:
            found.notes.append(f"PAM service '{service}': {found_in}")


async def oidc_keys(rt: Runtime, found: OnlineFindings) -> None:
    """Each OpenID Connect provider's signing keys, fetched as the first login would."""
    oidc = rt.backends.get("oidc")
    if oidc is None:
        return
    try:
        notes: list[str] = await oidc.fetch_keys()  # type: ignore[attr-defined]
    except BackendUnavailable as exc:
        found.errors.append(f"backends.oidc: {exc}")
        return
    found.notes.extend(notes)


async def state_engine(rt: Runtime, found: OnlineFindings) -> None:
    """state.backend redis: every URL answers PING with the configured credentials."""
    from bridge.state.engine import Engine, StateUnavailable

    state = rt.config.state
    if state.backend != "redis":
        return
    for url in state.all_urls:
        engine = Engine(state.model_copy(update={"url": url, "urls": ()}))
        try:
            await engine.run(lambda client: client.ping())
        except StateUnavailable as exc:
            found.errors.append(f"state.url {url}: {exc}")
        else:
            found.notes.append(f"state engine {url} answers")
        finally:
            await engine.close()


ONLINE_CHECKS: dict[str, OnlineCheck] = {
    "upstream": upstream_logins,
    "state": state_engine,
    "ldap": ldap_bind,
    "kerberos": kerberos_ticket,
    "pam": pam_service_files,
    "oidc": oidc_keys,
}


async def check_online(rt: Runtime) -> OnlineFindings:
    found = OnlineFindings()
    for check in ONLINE_CHECKS.values():
        await check(rt, found)
    return found
