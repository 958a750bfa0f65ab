"""The commands the pool sends to end what COM_RESET_CONNECTION leaves of a client."""

from __future__ import annotations

import pytest

from bridge.protocol.constants import Capability as C
from bridge.upstream.leftovers import cleanup_steps, framed_steps, has_roles, set_option

MARIADB = "5.5.5-10.11.6-MariaDB-0+deb12u1"


@pytest.mark.parametrize(
    ("version", "roles"),
    [
        (MARIADB, True),
        ("10.0.5-MariaDB", True),
        ("10.0.4-MariaDB", False),
        ("11.4.2-MariaDB-log", True),
        ("8.0.36", False),  # MySQL: not measured, not sent
        ("garbage", False),
    ],
)
def test_set_role_none_only_where_roles_are_known(version: str, roles: bool) -> None:
    assert has_roles(version) is roles
    whats = [s.what for s in cleanup_steps(version, 0)]
    assert ("SET ROLE NONE" in whats) is roles
    assert "COM_RESET_CONNECTION" in whats and whats[-1] == "COM_SET_OPTION"


def test_set_option_follows_the_negotiated_multi_statements() -> None:
    assert set_option(C.CLIENT_PROTOCOL_41 | C.CLIENT_MULTI_STATEMENTS) == b"\x1b\x00\x00"
    assert set_option(C.CLIENT_PROTOCOL_41) == b"\x1b\x01\x00"


def test_answers_accepted() -> None:
    ok, eof, err = b"\x00\x00\x00\x02\x00\x00\x00", b"\xfe\x00\x00\x02\x00", b"\xff\x15\x04"
    on, empty, off, reset, role, option = cleanup_steps(MARIADB, 0)
    assert on.what == "SET SESSION profiling = 1" and on.accepts(ok) and not on.accepts(err)
    assert empty.what == "SET SESSION profiling_history_size = 0"
    assert off.what == "SET SESSION profiling = 0" and off.accepts(ok)
    assert reset.accepts(ok) and not reset.accepts(err) and not reset.accepts(eof)
    assert role.accepts(ok) and not role.accepts(err)
    assert option.accepts(eof) and option.accepts(ok) and not option.accepts(err)


def test_the_framed_steps_are_the_steps_one_command_each() -> None:
    """One write carries every step as its own command (sequence id 0), in answer order."""
    version, caps = "10.11.6-MariaDB", int(C.CLIENT_PROTOCOL_41)
    data, packets = framed_steps(version, caps), []
    while data:
        length = int.from_bytes(data[:3], "little")
        assert data[3] == 0
        packets.append(data[4 : 4 + length])
        data = data[4 + length :]
    assert packets == [step.payload for step in cleanup_steps(version, caps)]
