"""Which account the upstream gave (bridge/upstream/whoami.py), without a server: what
"the same account" means, and reading CURRENT_USER()'s answer in the shapes servers send
it. tests/integration/test_upstream_account.py proves it against a real MariaDB."""

import asyncio
import logging
from typing import cast

import pytest

from bridge.netio import Conn
from bridge.protocol.codec import lenenc_bytes
from bridge.protocol.constants import Capability as C
from bridge.protocol.errors import ProtocolError
from bridge.protocol.framing import Packet
from bridge.protocol.packets import HandshakeV10, build_com_query
from bridge.upstream.login import UpstreamError, UpstreamSession
from bridge.upstream.whoami import AccountCheck, UpstreamAccount, current_user, wrong_account

COLUMN = b"\x03def\x00\x00\x00\x01u\x00\x0c?\x00\x00\x00\x00\x00\xfd\x80\x00\x00\x00\x00"
EOF_IDLE = b"\xfe\x00\x00\x02\x00"
OK_AS_EOF = b"\xfe\x00\x00\x02\x00\x00\x00"


def test_the_same_account_is_the_same_user_name_on_any_of_its_hosts() -> None:
    assert wrong_account("np", "np@%") is None
    assert wrong_account("np", "np@localhost") is None  # the upstream DBA's choice of row
    assert wrong_account("a@b", "a@b@10.%") is None  # a user name may hold '@'
    assert UpstreamAccount.parse("a@b@10.%") == UpstreamAccount("a@b", "10.%")


def test_the_anonymous_account_is_named_with_its_cause_and_fix() -> None:
    why = wrong_account("np", "@localhost")
    assert why is not None
    assert "logged the bridge in as ''@'localhost', not as 'np' (CURRENT_USER())" in why
    assert "mariadb-install-db creates ''@'localhost'" in why and "'np'@'%'" in why
    assert "DROP USER ''@'localhost'" in why


def test_another_users_row_and_another_spelling_are_wrong() -> None:
    why = wrong_account("np", "root@localhost")
    assert why is not None and "'root'@'localhost''s privileges" in why
    assert wrong_account("NP", "np@%") is not None  # user names are case-sensitive
    assert wrong_account("np", "np @%") is not None


def test_com_query_with_query_attributes_has_no_parameters() -> None:
    assert build_com_query(b"SELECT 1", C.CLIENT_PROTOCOL_41) == b"\x03SELECT 1"
    with_attrs = build_com_query(b"SELECT 1", C.CLIENT_QUERY_ATTRIBUTES)
    assert with_attrs == b"\x03\x00\x01SELECT 1"  # parameter_count 0, parameter_set_count 1


class ScriptedConn:
    """Answers the query with packets made from its token."""

    def __init__(
        self, answer: list[bytes] | None = None, shape: dict[str, bool] | None = None
    ) -> None:
        self.answer = answer
        self.shape = shape or {}
        self.packets: list[bytes] = []
        self.sent: list[bytes] = []

    def send_packet(self, payload: bytes, seq: int) -> int:
        self.sent.append(payload)
        token = bytes.fromhex(payload.split(b"'")[1].decode())
        self.packets = self.answer or result(lenenc_bytes(token), **self.shape)
        return seq + 1

    async def read_packet(self, max_payload: int) -> Packet:
        return Packet(1, self.packets.pop(0), 1)


def result(token: bytes, deprecate_eof: bool = False, metadata: bool = True) -> list[bytes]:
    """The packets of a one-row result for `SELECT token AS t, user AS u`."""
    packets = [b"\x02"] + ([COLUMN, COLUMN] if metadata else [])
    packets += [] if deprecate_eof else [EOF_IDLE]
    row = token + lenenc_bytes(b"@localhost")
    return [*packets, row, OK_AS_EOF if deprecate_eof else EOF_IDLE]


def session(conn: ScriptedConn, caps: int = C.CLIENT_PROTOCOL_41) -> UpstreamSession:
    greeting = HandshakeV10("10.11", 7, bytes(20), 0, 45, 2, "mysql_native_password")
    return UpstreamSession(cast(Conn, conn), greeting, caps)


@pytest.mark.parametrize("shape", [{}, {"deprecate_eof": True}, {"metadata": False},
                                   {"deprecate_eof": True, "metadata": False}])  # fmt: skip
async def test_current_user_is_read_from_any_shape_of_result(shape: dict[str, bool]) -> None:
    conn = ScriptedConn(shape=shape)
    assert await current_user(session(conn)) == "@localhost"
    assert conn.sent[0].startswith(b"\x03SELECT X'") and not conn.packets  # all read


async def test_an_error_or_an_endless_answer_fails_the_check() -> None:
    err = b"\xff\x15\x04#42000SELECT command denied"
    with pytest.raises(UpstreamError, match="SELECT CURRENT_USER\\(\\) failed: 1045") as caught:
        await current_user(session(ScriptedConn([err])))
    assert caught.value.err is not None and caught.value.err.errno == 1045
    with pytest.raises(ProtocolError):
        await current_user(session(ScriptedConn([b"\x01"] * 20)))


async def test_confirm_refuses_the_wrong_account_and_asks_once_for_the_right_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    check = AccountCheck()
    for _ in range(2):
        with pytest.raises(UpstreamError, match="as ''@'localhost', not as 'np'"):
            await check.confirm(session(ScriptedConn()), "np", 5.0)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused (ERROR 3169)" in errors[0].getMessage()
    assert not check.confirmed("np")
    check.judge("anon", "@localhost")
    assert check.confirmed("anon") is False
    check.judge("", "@localhost")  # the anonymous account meant as itself is itself
    assert check.confirmed("")
    silent = ScriptedConn()
    await check.confirm(session(silent), "", 5.0)
    assert silent.sent == []  # confirmed: no round trip


async def test_confirm_gives_up_after_its_timeout() -> None:
    class Silent(ScriptedConn):
        async def read_packet(self, max_payload: int) -> Packet:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    with pytest.raises(UpstreamError, match="got no answer"):
        await AccountCheck().confirm(session(Silent()), "np", 0.05)
