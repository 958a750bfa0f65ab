"""Resuming TLS 1.3 sessions with the upstream: one session ticket, offered by every new
upstream connection until the upstream stops taking it.

A resumed connection exchanges no certificate: OpenSSL decodes and verifies none, which
saves about 5 KiB per idle connection and the CPU of the certificate check here and of the
signature upstream. The ticket comes from a full handshake that checked the upstream as
the TLS mode says; only the holder of the upstream's ticket key can resume it, and the
key exchange is fresh for each connection (TLS 1.3 resumes with (EC)DHE). The ticket is
bound to the SSLContext that verified it (ssl refuses it on another), so a reload, which
makes a new one, starts with a full handshake. TLS 1.2 sessions are never resumed: that
would reuse their keys. One ticket serves many connections (RFC 8446 advises a fresh one
each time, so that an observer cannot link them; between the bridge and its upstream
they share their addresses anyway): CPython 3.11 leaks a copy of the session each time
one is read, so the bridge reads one only after a full handshake.
"""

from __future__ import annotations

import logging
import ssl

from bridge.netio import Conn

log = logging.getLogger("bridge.upstream")

# Full TLS 1.3 handshakes in a row that gave nothing to resume with (no ticket, or the
# ticket offered was refused: several upstreams behind one address, each with its own
# ticket key) before the bridge stops offering and reading tickets for this target (until
# a reload). Each read of a session leaks a copy of it in CPython 3.11 (gh-116810): this
# bounds what an upstream that never resumes costs.
MAX_MISSES = 3


class SessionTicket:
    """The session new connections to one upstream (one SSLContext) offer to resume."""

    __slots__ = ("_gave_up", "_misses", "_session")

    def __init__(self) -> None:
        self._session: ssl.SSLSession | None = None
        self._misses = 0
        self._gave_up = False

    def offer(self) -> ssl.SSLSession | None:
        return self._session

    def learn(self, conn: Conn, offered: ssl.SSLSession | None) -> None:
        """After a login on `conn`, which offered `offered`: a full TLS 1.3 handshake (the
        first, or one whose ticket the upstream refused) gives the session to offer from
        now on."""
        if conn.tls_resumed:
            self._misses = 0
            log.debug("upstream TLS session resumed")
            return
        if conn.tls_version != "TLSv1.3" or self._gave_up:
            return
        if offered is None and self._session is not None:
            return  # began before the first ticket was known (a burst): one is known now
        if offered is not None:
            self._miss()  # offered and refused
            if self._gave_up:
                return
        session = conn.tls_session()
        if session is not None and session.has_ticket:
            self._session = session
            log.debug("upstream TLS: full handshake; its session ticket is kept")
            return
        self._session = None
        self._miss()

    def _miss(self) -> None:
        self._misses += 1
        if self._misses >= MAX_MISSES:
            self._session, self._gave_up = None, True
            log.info(
                "upstream TLS: %d full handshakes in a row without a session to resume "
                "(no ticket, or ticket refused): not offering tickets until a reload",
                self._misses,
            )
