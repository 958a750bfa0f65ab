"""mysql_native_password: one 20-byte SHA-1 scramble answer, no round trips."""

from __future__ import annotations

from bridge.credentials import Credential, NativeScramble
from bridge.wire.base import WireContext, WireRun, is_empty_answer, register


@register
class MysqlNativePassword:
    name = "mysql_native_password"
    keeps_session_nonce = True
    carries_password = False

    def switch_data(self, ctx: WireContext) -> bytes:
        return ctx.nonce + b"\0"

    def check_transport(self, ctx: WireContext) -> None:
        return None

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        token = b"" if is_empty_answer(first) else first
        credential: Credential = NativeScramble(ctx.nonce, token)
        return credential
