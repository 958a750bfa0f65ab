"""How long a login may wait on its backend, and the handshake clock that does not run
meanwhile.

`server.connect_timeout` is the client's time, as mysqld's is: the time to send its
handshake and its answers. While the bridge itself waits on a backend (a directory, a KDC,
a PAM stack, an OpenID provider's keys), that clock stops and the backend's **budget**
bounds the wait instead: the most the backend's own timeouts let one verification take,
plus GRACE. A backend that does not answer within it is an outage (BackendUnavailable): the
client gets ERROR 1045, the log says `backend outage`, the outage metric counts it. A
handshake, and the handshake slot it holds, is therefore bounded by connect_timeout plus
the budget of the backend its row names (docs/security.md)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bridge.config import BackendsConfig, KerberosConfig, LdapConfig, OidcConfig
from bridge.errors import BackendUnavailable

T = TypeVar("T")

GRACE = 1.0  # seconds beyond a backend's own timeouts before the session stops waiting
SEARCHES_PER_LOGIN = 3  # LDAP, per server: StartTLS or the TLS handshake, a bind, a search
OIDC_REQUESTS_PER_REFRESH = 2  # discovery, then the JWKS (bridge/oidc/keys.py)


def ldap_budget(config: LdapConfig) -> float:
    """Every server in turn: a connect, then at most three requests (ldap3 takes whole
    seconds for the response timeout)."""
    per_server = config.connect_timeout + SEARCHES_PER_LOGIN * math.ceil(config.response_timeout)
    return per_server * len(config.servers)


def kerberos_budget(config: KerberosConfig, ldap: LdapConfig | None) -> float:
    """The KDC's answer to a password login, then the LDAP groups if they are used."""
    groups = ldap_budget(ldap) if config.groups_from_ldap and ldap is not None else 0.0
    return config.timeout + groups


def oidc_budget(config: OidcConfig) -> float:
    """A refresh of the slowest provider's keys: discovery and the JWKS, each `timeout`."""
    return max(p.timeout for p in config.providers) * OIDC_REQUESTS_PER_REFRESH


# Backends that wait on a server, by their names in PLUGINS; the others (the built-in
# store, auth_socket's peer credentials) answer from memory and keep the handshake clock.
BUDGETS: dict[str, Callable[[BackendsConfig], float | None]] = {
    "pam": lambda b: b.pam.timeout if b.pam else None,
    "ldap": lambda b: ldap_budget(b.ldap) if b.ldap else None,
    "kerberos": lambda b: kerberos_budget(b.kerberos, b.ldap) if b.kerberos else None,
    "oidc": lambda b: oidc_budget(b.oidc) if b.oidc else None,
}


def backend_budget(backends: BackendsConfig, name: str) -> float | None:
    """Seconds a login may wait on backend `name` (GRACE included); None: no server."""
    budget = BUDGETS.get(name)
    seconds = budget(backends) if budget is not None else None
    return None if seconds is None else seconds + GRACE


async def wait_on_backend(
    work: Awaitable[T], deadline: asyncio.Timeout | None, budget: float | None, name: str
) -> T:
    """Await the backend's verification with the handshake deadline stopped, within its
    budget; past the budget, BackendUnavailable."""
    if budget is None:
        return await work
    left = _pause(deadline)
    own = asyncio.timeout(budget)
    try:
        async with own:
            return await work
    except TimeoutError:
        if own.expired():
            raise BackendUnavailable(f"{name} did not answer within {budget:g} s") from None
        raise  # the handshake's own deadline (a PAM prompt to the client restarts it)
    finally:
        _resume(deadline, left)


def _pause(deadline: asyncio.Timeout | None) -> float | None:
    """Stop the deadline; the seconds it had left (None: there was none)."""
    when = deadline.when() if deadline is not None else None
    if deadline is None or when is None:
        return None
    deadline.reschedule(None)
    return when - asyncio.get_running_loop().time()


def _resume(deadline: asyncio.Timeout | None, left: float | None) -> None:
    """The deadline runs on with what it had left, or later if a question to the client
    (a PAM prompt) moved it meanwhile."""
    if deadline is None or left is None or deadline.expired():
        return
    resumed = asyncio.get_running_loop().time() + left
    moved = deadline.when()
    deadline.reschedule(resumed if moved is None else max(resumed, moved))
