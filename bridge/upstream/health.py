"""How the bridge asks whether the upstream is there (/readyz, /healthz, the profile
learned at start and reload): a whole login and COM_QUIT, not a greeting read and dropped.

MySQL and MariaDB count a connection that ends before its handshake as a connection
error of the client's host; at max_connect_errors (default 100) they block the host
(ERROR 1129) until FLUSH HOSTS. A load balancer that polls /readyz every few seconds
would get the bridge's own host blocked within minutes of quiet. A finished login,
even a refused one, counts no error (and a successful one clears the count).

The probe logs in as the first account of the credentials file (by name). A refusal of
that account (a wrong password, a limit) still shows that the upstream answers: the
account's trouble is check --online's to report, not a reason to take the bridge out.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.protocol.packets import HandshakeV10
from bridge.upstream.login import UpstreamError, UpstreamTarget, login, probe
from bridge.upstream.pool import close_upstream
from bridge.upstream.request import own_login_request

# Refusals of the account, not of this host: the upstream answered a finished handshake.
ACCOUNT_REFUSALS = frozenset({
    1044,  # ER_DBACCESS_DENIED_ERROR
    1045,  # ER_ACCESS_DENIED_ERROR
    1203,  # ER_TOO_MANY_USER_CONNECTIONS
    1226,  # ER_USER_LIMIT_REACHED
    1820,  # ER_MUST_CHANGE_PASSWORD
    1862,  # ER_MUST_CHANGE_PASSWORD_LOGIN
    3118,  # ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
    4151,  # ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB)
})  # fmt: skip


async def ask_upstream(target: UpstreamTarget, credentials: Mapping[str, bytes]) -> HandshakeV10:
    """The upstream's greeting, after a login (or a refusal of the account) and COM_QUIT;
    UpstreamError when it cannot be reached or refuses this host. Without any credentials,
    only the greeting is read."""
    if not credentials:
        return await probe(target)
    user = min(credentials)
    request = own_login_request(user, credentials[user], "mysql-auth-bridge health")
    try:
        session = await login(target, request)
    except UpstreamError as exc:
        if exc.greeting is not None and exc.err is not None and exc.err.errno in ACCOUNT_REFUSALS:
            return exc.greeting
        raise
    close_upstream(session)
    return session.greeting
