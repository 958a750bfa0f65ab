"""Which upstream TLS session the bridge offers to resume, and when it reads one (CPython
3.11 leaks a copy of the session at every read: only after a full TLS 1.3 handshake)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from bridge.netio import Conn
from bridge.upstream.tickets import MAX_MISSES, SessionTicket


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


def learn(ticket: SessionTicket, leg: Leg, offered: Any = None) -> Leg:
    """A login on `leg`, which offered `offered` (what ticket.offer() gave when it began)."""
    ticket.learn(cast(Conn, leg), offered)
    return leg


def test_a_full_tls_13_handshake_gives_the_session_and_resumed_ones_keep_it() -> None:
    ticket = SessionTicket()
    assert ticket.offer() is None
    first = learn(ticket, Leg())
    assert offered(ticket) is first.session and first.reads == 1
    resumed = learn(ticket, Leg(tls_resumed=True, session=Session()), offered(ticket))
    assert offered(ticket) is first.session and resumed.reads == 0  # not even read
    refused = learn(ticket, Leg(), offered(ticket))  # no longer taken: a fresh ticket
    assert offered(ticket) is refused.session


def test_tls_12_and_plain_connections_give_nothing_and_are_not_read() -> None:
    ticket = SessionTicket()
    for leg in (Leg(tls_version="TLSv1.2"), Leg(tls_version=None)):
        assert learn(ticket, leg).reads == 0
    assert ticket.offer() is None


def test_an_upstream_that_gives_no_tickets_is_asked_a_few_times_only() -> None:
    ticket = SessionTicket()
    legs = [learn(ticket, Leg(session=Session(has_ticket=False))) for _ in range(10)]
    assert sum(leg.reads for leg in legs) == MAX_MISSES
    assert ticket.offer() is None


def test_an_upstream_that_refuses_every_ticket_is_read_a_few_times_only() -> None:
    """Several upstreams behind one address, each with its own ticket key: every offered
    ticket is refused and a new one comes. Each read of a session leaks a copy of it
    (CPython 3.11): after a few misses in a row the bridge stops offering and reading."""
    ticket = SessionTicket()
    legs = []
    for _ in range(20):
        legs.append(learn(ticket, Leg(), offered(ticket)))
    assert sum(leg.reads for leg in legs) <= MAX_MISSES
    assert ticket.offer() is None


def test_one_resumption_between_refusals_starts_the_count_again() -> None:
    ticket = SessionTicket()
    learn(ticket, Leg())
    for _ in range(MAX_MISSES - 1):
        learn(ticket, Leg(), offered(ticket))  # refused, a fresh ticket each time
        learn(ticket, Leg(tls_resumed=True), offered(ticket))  # then taken
    assert ticket.offer() is not None


def test_logins_that_began_before_the_first_ticket_do_not_each_read_one() -> None:
    ticket = SessionTicket()
    began = [offered(ticket) for _ in range(10)]  # a burst at start: nothing to offer yet
    legs = [learn(ticket, Leg(), at_start) for at_start in began]
    assert sum(leg.reads for leg in legs) == 1
    assert offered(ticket) is legs[0].session
