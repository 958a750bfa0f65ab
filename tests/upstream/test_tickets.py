"""Which upstream TLS session the bridge offers to resume, and when it reads one (CPython
3.11 leaks a copy of the session at every read: only after a full TLS 1.3 handshake)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from bridge.netio import Conn
from bridge.upstream.tickets import MAX_TICKETLESS, SessionTicket


@dataclass
class Session:
    has_ticket: bool = True


@dataclass
class Leg:
    tls_version: str | None = "TLSv1.3"
    tls_resumed: bool = False
    session: Session | None = field(default_factory=Session)
    reads: int = 0

    def tls_session(self) -> Any:
        self.reads += 1
        return self.session


def offered(ticket: SessionTicket) -> object:
    return ticket.offer()


def learn(ticket: SessionTicket, leg: Leg) -> Leg:
    ticket.learn(cast(Conn, leg))
    return leg


def test_a_full_tls_13_handshake_gives_the_session_and_resumed_ones_keep_it() -> None:
    ticket = SessionTicket()
    assert ticket.offer() is None
    first = learn(ticket, Leg())
    assert offered(ticket) is first.session and first.reads == 1
    resumed = learn(ticket, Leg(tls_resumed=True, session=Session()))
    assert offered(ticket) is first.session and resumed.reads == 0  # not even read
    refused = learn(ticket, Leg())  # the upstream no longer took the ticket: a fresh one
    assert offered(ticket) is refused.session


def test_tls_12_and_plain_connections_give_nothing_and_are_not_read() -> None:
    ticket = SessionTicket()
    for leg in (Leg(tls_version="TLSv1.2"), Leg(tls_version=None)):
        assert learn(ticket, leg).reads == 0
    assert ticket.offer() is None


def test_an_upstream_that_gives_no_tickets_is_asked_a_few_times_only() -> None:
    ticket = SessionTicket()
    legs = [learn(ticket, Leg(session=Session(has_ticket=False))) for _ in range(10)]
    assert sum(leg.reads for leg in legs) == MAX_TICKETLESS
    assert ticket.offer() is None
