"""The decoy bind: what a name the directory does not have costs, so that it costs what a
wrong password costs.

A wrong password is a search, then a fresh connection (TCP, TLS or StartTLS) and a simple
bind that the directory refuses. A name the search does not find (or finds more than once)
gets the same: the same connection to the same server and a simple bind with the password
the client sent, as a DN no entry can have (`cn=mysql-auth-bridge-decoy-<128 random
bits>,<base>`): no account is touched, counted or locked by it, and the directory's log
shows what it was. Its answer is ignored: the login is denied.

What a directory does for a real entry it may not do for a missing one (Samba AD writes
`badPwdCount`; a slow password hash, such as slapd's argon2, is only computed for an
entry that has one): `BindTimes` keeps, per server, the last refused binds of real entries
and the last decoy binds, and a decoy waits the gap between their medians, so that the two
meet however slow the directory is. Until a real refusal has been seen there is nothing to
pad to.
"""

from __future__ import annotations

import secrets
import statistics
import threading
from collections import deque
from dataclasses import dataclass, field

from ldap3.utils.dn import escape_rdn

DECOY_PREFIX = "mysql-auth-bridge-decoy-"
WINDOW = 64  # binds of each kind remembered, per server


def decoy_dn(base: str) -> str:
    """A DN under the search base that no entry has: 128 random bits in its RDN."""
    return f"cn={escape_rdn(DECOY_PREFIX + secrets.token_hex(16))},{base}"


@dataclass
class BindTimes:
    """Seconds taken by refused binds of real entries and by decoy binds, on one server
    (connection, TLS and bind: the same work for both)."""

    refused: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    decoys: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note_refused(self, took: float) -> None:
        with self.lock:
            self.refused.append(took)

    def decoy_wait(self, took: float, limit: float) -> float:
        """Note a decoy bind; how long it should wait on top (at most `limit`)."""
        with self.lock:
            self.decoys.append(took)
            if not self.refused:
                return 0.0
            gap = statistics.median(self.refused) - statistics.median(self.decoys)
        return min(max(gap, 0.0), limit)
