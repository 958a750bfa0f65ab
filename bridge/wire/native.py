"""mysql_native_password: one 20-byte SHA-1 scramble answer, no round trips."""

from __future__ import annotations

from bridge.credentials import Credential, NativeScramble
from bridge.wire.base import WireContext, WireMethodBase, WireRun, is_empty_answer, register


@register
class MysqlNativePassword(WireMethodBase):
    name = "mysql_native_password"
    answers_greeting = True
    proves = (NativeScramble,)
    keeps_session_nonce = True

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        token = b"" if is_empty_answer(first) else first
        credential: Credential = NativeScramble(ctx.nonce, token)
        return credential
