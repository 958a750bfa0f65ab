"""Why an LDAP server could not be used, in words a DBA can act on.

ldap3 wraps every socket and TLS failure in a few exception classes whose text holds the
real cause (`socket ssl wrapping error: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify
failed: ...`). The log line, the health report and `check --online` say the cause instead:
a wrong `ca` must not look like a server that is down. The texts hold no secret: ldap3's
socket and TLS errors carry none, and the fallback keeps one bounded line of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.backends.adcodes import bind_refusal
from bridge.causes import first_cause, fixed

# ldap3's answer when it has no address to try: the name did not resolve, or (see
# _Server.failure in ldap.py) every address failed in the last few seconds
UNRESOLVED = "the host name does not resolve"


@dataclass(frozen=True)
class Timeouts:
    connect: float  # seconds: the TCP connection
    response: float  # seconds: each answer (ldaps' TLS handshake, StartTLS, bind, search)


def _verify_failed(found: re.Match[str], _: Timeouts) -> str:
    detail = found.group(1).strip()
    return f"TLS certificate verify failed ({detail}): check ldap.ca and the server's name"


def _tls_failed(found: re.Match[str], _: Timeouts) -> str:
    return f"TLS handshake failed ({found.group(1).strip().lower().replace('_', ' ')})"


# (pattern on the error's text, what it means); the first that matches says it
CAUSES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], Timeouts], str]], ...] = (
    (re.compile(r"certificate verify failed: ([^(]*)"), _verify_failed),
    (re.compile(r"handshake operation timed out"),
     lambda _, t: f"TLS handshake timed out after {t.response:g} s"),
    (re.compile(r"Connection refused"), fixed("connection refused")),
    (re.compile(r"while opening: timed out"),
     lambda _, t: f"no connection within {t.connect:g} s"),
    (re.compile(r"receiving data: timed out|LDAPResponseTimeoutError"),
     lambda _, t: f"no answer within {t.response:g} s"),
    (re.compile(r"invalid server address"), fixed(UNRESOLVED)),
    (re.compile(r"\[SSL: ([A-Z_]+)\]"), _tls_failed),
    (re.compile(r"Connection reset|Broken pipe|session terminated|connection closed", re.I),
     fixed("the server closed the connection")),
    (re.compile(r"\[Errno \d+\] ([^'\"]+)"), lambda found, _: found.group(1).strip()),
)  # fmt: skip


def outage_cause(exc: BaseException, timeouts: Timeouts) -> str:
    """What went wrong reaching a server, from an exception ldap3 or the socket raised."""
    text = " ".join(f"{type(e).__name__} {e}" for e in _chain(exc))
    return first_cause(text, CAUSES, timeouts, exc)


def refusal_cause(dn: str | None, result: dict[str, Any]) -> str:
    """Why a server refused a bind (the service account's, or StartTLS): its result, with
    Active Directory's reason when it gave one."""
    if dn is None:
        return str(result.get("description") or "refused")
    return bind_refusal(dn, result).reason


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or during (at most a few)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 4:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
