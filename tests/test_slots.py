"""Handshake slots apart from session slots, with a per-source cap."""

from __future__ import annotations

from bridge.config import ServerConfig
from bridge.slots import Slots

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
