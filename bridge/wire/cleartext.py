"""mysql_clear_password: the password and a NUL, only over TLS or a Unix socket unless
the configuration explicitly allows an insecure transport."""

from __future__ import annotations

from bridge.credentials import ClearPassword, Credential
from bridge.wire.base import (
    WireContext,
    WireMethodBase,
    WireRun,
    register,
    require_secure,
    strip_nul,
)


@register
class MysqlClearPassword(WireMethodBase):
    name = "mysql_clear_password"
    carries_password = True

    def switch_data(self, ctx: WireContext) -> bytes:
        return b""

    def check_transport(self, ctx: WireContext) -> None:
        require_secure(ctx, "cleartext password")

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        self.check_transport(ctx)
        credential: Credential = ClearPassword(strip_nul(first))
        return credential
