"""Handshake slots apart from session slots, with a per-source cap."""

from __future__ import annotations

from bridge.config import ServerConfig
from bridge.slots import Slots, source_key

CONFIG = ServerConfig(max_connections=2, max_unauthenticated=5, max_unauthenticated_per_source=3)


def test_one_source_gets_a_few_handshakes_and_others_still_get_theirs() -> None:
    slots = Slots()
    assert [slots.admit("10.0.0.1", CONFIG) for _ in range(4)] == [True, True, True, False]
    assert slots.admit("10.0.0.2", CONFIG) and slots.admit(None, CONFIG)
    assert not slots.admit("10.0.0.3", CONFIG)  # all five handshake slots are taken
    slots.release("10.0.0.1", authenticated=False)
    assert slots.admit("10.0.0.1", CONFIG)


def test_logins_move_to_session_slots_up_to_max_connections() -> None:
    slots = Slots()
    for _ in range(3):
        assert slots.admit("10.0.0.1", CONFIG)
    assert slots.promote("10.0.0.1", CONFIG.max_connections)
    assert slots.promote("10.0.0.1", CONFIG.max_connections)
    assert not slots.promote("10.0.0.1", CONFIG.max_connections)  # the third: 1040
    assert (slots.handshakes, slots.sessions, slots.by_source) == (1, 2, {"10.0.0.1": 1})
    assert not slots.admit("10.0.0.2", CONFIG)  # sessions full: refused before the greeting
    slots.release("10.0.0.1", authenticated=True)
    slots.release("10.0.0.1", authenticated=False)
    assert (slots.handshakes, slots.sessions, slots.by_source) == (0, 1, {})


def test_an_ipv6_source_is_its_64_and_ipv4_stays_per_address() -> None:
    assert source_key("192.0.2.7") == "192.0.2.7"
    assert source_key("192.0.2.8") == "192.0.2.8"
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"  # a dual-stack view of IPv4
    same = {source_key(a) for a in ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff",
                                     "2001:DB8:1:2:a:b:c:d")}  # fmt: skip
    assert same == {"2001:db8:1:2::/64"}
    assert source_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"  # the next /64: its own
    assert source_key("::1") == "::/64"
    assert source_key("fe80::1%eth0") == "fe80::/64"
    assert source_key("not-an-address") == "not-an-address"


def test_one_64_shares_one_cap() -> None:
    """Addresses of one /64 share max_unauthenticated_per_source; another /64 and IPv4 do not."""
    slots = Slots()
    for i in range(3):
        assert slots.admit(source_key(f"2001:db8::{i + 1}"), CONFIG)
    assert not slots.admit(source_key("2001:db8::ffff"), CONFIG)  # 4th of the /64
    assert slots.admit(source_key("2001:db8:0:1::1"), CONFIG)
    assert slots.admit(source_key("::ffff:10.0.0.1"), CONFIG)
    slots.release(source_key("2001:db8::2"), authenticated=False)  # any of them frees one
    assert slots.admit(source_key("2001:db8::abcd"), CONFIG)
