"""mysql_clear_password: the password and a NUL, only over TLS or a Unix socket unless
the configuration explicitly allows an insecure transport."""

from __future__ import annotations

from bridge.credentials import ClearPassword, Credential
from bridge.wire.base import (
    ClearTextMethod,
    WireContext,
    WireRun,
    register,
    strip_nul,
)


@register
class MysqlClearPassword(ClearTextMethod):
    name = "mysql_clear_password"
    proves = (ClearPassword,)

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        self.check_transport(ctx)
        credential: Credential = ClearPassword(strip_nul(first))
        return credential
