"""mysql_clear_password: the password and a NUL, only over TLS or a Unix socket unless
the configuration explicitly allows an insecure transport."""

from __future__ import annotations

from bridge.credentials import ClearPassword, Credential
from bridge.errors import SecureTransportRequired
from bridge.wire.base import WireContext, WireRun, register, strip_nul


@register
class MysqlClearPassword:
    name = "mysql_clear_password"
    keeps_session_nonce = False
    carries_password = True

    def switch_data(self, ctx: WireContext) -> bytes:
        return b""

    def check_transport(self, ctx: WireContext) -> None:
        if not ctx.secure and not ctx.allow_insecure_cleartext:
            raise SecureTransportRequired(
                SecureTransportRequired.CLEARTEXT, "cleartext password over insecure transport"
            )

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        self.check_transport(ctx)
        credential: Credential = ClearPassword(strip_nul(first))
        return credential
