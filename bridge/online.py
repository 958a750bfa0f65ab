"""`check --online`: talk to every server the configuration names, as the first logins
would, so a wrong upstream password or an unreachable directory is found before a user
meets it as ERROR 3169.

- upstream: log in as each account in the credentials file (its password, the TLS mode),
  and ask CURRENT_USER(): the upstream must give the account itself, not another row
  (an anonymous ''@'localhost' matches before 'np'@'%');
- LDAP: bind as the service account on every server, each reported;
- Kerberos: get a service ticket for the service principal from the KDC and accept it with
  the keytab (asked for as the service itself, or on Active Directory as another principal
  in the keytab or the LDAP service account: bridge/kerberos_check.py);
- PAM: find the service file of every PAM service the accounts name;
- OpenID Connect: fetch every provider's signing keys (discovery, then its JWKS);
- state (Redis/Valkey): PING every URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from bridge.backends.ldap import LdapBackend
from bridge.config import StateConfig, read_yaml
from bridge.errors import BackendUnavailable, Denied
from bridge.mapping.auth_string import parse_pam
from bridge.runtime import Runtime
from bridge.upstream.login import UpstreamError, UpstreamSession, login
from bridge.upstream.request import credential_hint, own_login_request
from bridge.upstream.whoami import ask_current_user, wrong_account
from bridge.yamlfile import key_line

if TYPE_CHECKING:
    from bridge.state.engine import Engine

T = TypeVar("T")
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
    upstream that cannot be reached, or that does not answer within connect_timeout (hung:
    it takes the connection and says nothing), is reported once: waiting connect_timeout
    again for each account would tell nothing more."""
    creds_file = rt.config.upstream.credentials
    for user in rt.credentials:  # the file's order: errors by line, as check's own
        request = own_login_request(user, rt.credentials[user], "mysql-auth-bridge check")
        try:
            session = await login(rt.upstream, request)
            how = "TLS" if session.conn.tls_active else "no TLS"
            why = await _wrong_account(session, user)
        except UpstreamError as exc:
            unreachable = str(exc).startswith(("cannot connect", "no greeting"))
            if exc.err is None and (unreachable or isinstance(exc.__cause__, TimeoutError)):
                found.errors.append(f"upstream.address: {exc}")
                return
            hint = credential_hint(exc)
            said = f"{exc} ({hint})" if hint is not None else str(exc)
            found.errors.append(f"{_key_line(creds_file, user)}: {user}: upstream login: {said}")
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
    """A service-account bind on every server of `servers`, each reported: a login only
    uses the first that answers, but a failover goes to the others."""
    ldap, config = rt.backends.get("ldap"), rt.config.backends.ldap
    if not isinstance(ldap, LdapBackend) or config is None:  # none configured
        return
    limit = TIMEOUT * len(config.servers)
    try:
        async with asyncio.timeout(limit):
            servers = await ldap.check_each()
    except TimeoutError:
        found.errors.append(f"backends.ldap: the servers did not answer within {limit:g} s")
        return
    except Exception as exc:  # the search base (see naming_context)
        found.errors.append(f"backends.ldap: {exc or type(exc).__name__}")
        return
    who = config.bind_dn or "anonymous"
    for n, server in enumerate(servers):
        if server.failure is None:
            found.notes.append(f"LDAP bind as {who} on {server.url}")
        else:
            found.errors.append(f"backends.ldap.servers[{n}]: {server.url}: the service "
                                f"account's bind failed: {server.failure}")  # fmt: skip


async def kerberos_ticket(rt: Runtime, found: OnlineFindings) -> None:
    """A service ticket from the KDC, accepted with the keytab (bridge/kerberos_check.py):
    asked for as the service principal (MIT), else as another principal in the keytab or
    the LDAP service account (Active Directory takes no SPN as a client)."""
    from bridge.kerberos_check import KeytabRefused, prove_keytab

    config = rt.config.backends.kerberos
    if config is None:
        return
    no_ticket = f"backends.kerberos: no service ticket for {config.service_principal} with "
    try:
        async with asyncio.timeout(TIMEOUT):
            verdict = await _in_daemon_thread(prove_keytab, config, _ldap_account(rt))
    except KeytabRefused as exc:
        found.errors.append(f"backends.kerberos: {exc}")
        return
    except TimeoutError:  # a KDC that takes the connection and never answers (hung)
        found.errors.append(f"{no_ticket}{config.keytab}: the KDC did not answer within "
                            f"{TIMEOUT:g} s")  # fmt: skip
        return
    except Exception as exc:  # a library's surprise
        found.errors.append(f"{no_ticket}{config.keytab}: {str(exc) or type(exc).__name__}")
        return
    (found.notes if verdict.proven else found.warnings).append(
        verdict.text if verdict.proven else f"backends.kerberos: {verdict.text}"
    )
    found.warnings += [f"backends.kerberos: {line}" for line in verdict.warnings]


async def _in_daemon_thread(call: Callable[..., T], *args: object) -> T:
    """`call(*args)` in a daemon thread. libkrb5 waits for a KDC that took the connection
    and never answers far longer than TIMEOUT (about 40 s more, measured): in the default
    executor that wait held `check --online` at its exit (asyncio.run joins the executor);
    a daemon thread is left behind when the timeout gives up on it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if done.done():
            return
        if exc is not None:
            done.set_exception(exc)
        else:
            done.set_result(cast(T, result))

    def run() -> None:
        try:
            result, exc = call(*args), None
        except BaseException as raised:  # handed to the awaiting task
            result, exc = None, raised
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=run, name="check-online", daemon=True).start()
    return await done


def _ldap_account(rt: Runtime) -> Callable[[], tuple[str, str] | None]:
    """The LDAP service account as a Kerberos principal of the service's realm, with its
    password: looked up (in the worker thread) only if the check gets that far."""
    ldap, config = rt.backends.get("ldap"), rt.config.backends.kerberos

    def account() -> tuple[str, str] | None:
        if not isinstance(ldap, LdapBackend) or ldap.bind_password is None or config is None:
            return None
        try:
            name = ldap.service_account_name()
        except (BackendUnavailable, Denied):  # the LDAP check reports the directory itself
            return None
        return (f"{name}@{config.realm}", ldap.bind_password) if name else None

    return account


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
        with _quiet("bridge.oidc"):  # its 'cannot fetch' WARNING is the error below
            notes: list[str] = await oidc.fetch_keys()  # type: ignore[attr-defined]
    except BackendUnavailable as exc:
        found.errors.append(f"backends.oidc: {exc}")
        return
    found.notes.extend(notes)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """A logger's WARNINGs held back while check reports the same failure as an error."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


async def state_engine(rt: Runtime, found: OnlineFindings) -> None:
    """state.backend redis: every URL answers PING with the configured credentials."""
    from bridge.state.engine import Engine, StateUnavailable

    state = rt.config.state
    if state.backend != "redis":
        return
    for url in state.all_urls:
        engine = Engine(state.model_copy(update={"url": url, "urls": ()}), announce=False)
        try:
            await engine.run(lambda client: client.ping())
            others = await _other_keys(engine, state)
        except StateUnavailable as exc:  # 'state engine <url>: <the cause in words>'
            found.errors.append(f"state.url: {exc}")
        else:
            found.notes.append(f"state engine {url} answers")
            if others:
                found.errors.append(f"state.fast_auth_key_file: {others}")
        finally:
            await engine.close()


async def _other_keys(engine: Engine, state: StateConfig) -> str | None:
    """Do the bridges running on this engine and key_prefix hold this key file? (Read
    only: check announces nothing.) The mismatch in words, or None."""
    from bridge.state.fastauth import read_key_file
    from bridge.state.keycheck import KeyCheck

    if state.fast_auth_key_file is None:
        return None
    check = KeyCheck(engine, read_key_file(state.fast_auth_key_file))
    others = await check.announce(0)
    return check.problem(others) if others else None


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
