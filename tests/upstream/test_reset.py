"""The upstream reset after a refused COM_CHANGE_USER (bridge/upstream/reset.py), without a
server: what is sent, and what counts as its answer.
tests/integration/test_change_user_reset.py proves it against a real MariaDB."""

from typing import cast

import pytest

from bridge.netio import Conn
from bridge.protocol.constants import Capability as C
from bridge.protocol.framing import Packet
from bridge.upstream.login import UpstreamError
from bridge.upstream.reset import SERVER_CHARSET, as_after_failed_change, reset_commands

OK = b"\x00\x00\x00\x02\x00\x00\x00"
ERR = b"\xff\xb5\x04#HY000Lock wait timeout"


class ScriptedConn:
    """Records what is sent; answers from a list."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.sent: list[tuple[bytes, int]] = []

    def send_packet(self, payload: bytes, seq: int) -> int:
        self.sent.append((payload, seq))
        return seq + 1

    async def read_packet(self, max_payload: int) -> Packet:
        return Packet(1, self.answers.pop(0), 1)


def test_a_reset_then_the_servers_character_set_each_a_command_of_its_own() -> None:
    assert reset_commands(0) == (b"\x1f", b"\x03" + SERVER_CHARSET)
    # with query attributes (MySQL 8.0.23+) a COM_QUERY carries an empty parameter set
    assert reset_commands(C.CLIENT_QUERY_ATTRIBUTES)[1] == b"\x03\x00\x01" + SERVER_CHARSET


async def test_both_answered_with_ok_is_done() -> None:
    conn = ScriptedConn([OK, OK])
    await as_after_failed_change(cast(Conn, conn), 0)
    assert conn.sent == [(payload, 0) for payload in reset_commands(0)] and conn.answers == []


@pytest.mark.parametrize(
    ("answers", "match"),
    [([ERR, OK], "session reset failed: 1205 Lock wait timeout"),
     ([OK, ERR], "session reset failed: 1205"),
     ([OK, b"\x01"], "out of step")],
)  # fmt: skip
async def test_anything_but_two_oks_fails(answers: list[bytes], match: str) -> None:
    refused = ERR in answers
    with pytest.raises(UpstreamError, match=match) as caught:
        await as_after_failed_change(cast(Conn, ScriptedConn(answers)), 0)
    assert (caught.value.err is not None) == refused  # an ERR is kept, for its errno
