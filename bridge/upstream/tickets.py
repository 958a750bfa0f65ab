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

# TLS 1.3 full handshakes that brought no ticket before the bridge stops asking.
MAX_TICKETLESS = 3


class SessionTicket:
    """The session new connections to one upstream (one SSLContext) offer to resume."""

    __slots__ = ("_session", "_ticketless")

    def __init__(self) -> None:
        self._session: ssl.SSLSession | None = None
        self._ticketless = 0

    def offer(self) -> ssl.SSLSession | None:
        return self._session

    def learn(self, conn: Conn) -> None:
        """After a login on `conn`: a full TLS 1.3 handshake (the first, or one whose
        ticket the upstream no longer took) gives the session to offer from now on."""
        if conn.tls_resumed:
            log.debug("upstream TLS session resumed")
            return
        if conn.tls_version != "TLSv1.3":
            return
        if self._ticketless >= MAX_TICKETLESS:
            self._session = None
            return
        session = conn.tls_session()
        if session is not None and session.has_ticket:
            self._session, self._ticketless = session, 0
            log.debug("upstream TLS: full handshake; its session ticket is kept")
        else:
            self._session = None
            self._ticketless += 1
