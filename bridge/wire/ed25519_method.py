"""client_ed25519 (MariaDB's ed25519): the AuthSwitchRequest carries a 32-byte nonce, the
client answers with its 64-byte Ed25519 signature of it, keyed by the password.

The greeting's scramble plays no part, so a client that opened with client_ed25519 in its
HandshakeResponse has signed nothing the bridge sent: it is switched all the same. And
the connection's scramble is kept on COM_CHANGE_USER: libmariadb's ed25519 plugin leaves
the session's scramble alone, and its native plugin answers a later change-user from it.
"""

from __future__ import annotations

from bridge.credentials import Credential, Ed25519Signature
from bridge.wire.base import WireContext, WireMethodBase, WireRun, register


@register
class ClientEd25519(WireMethodBase):
    name = "client_ed25519"
    proves = (Ed25519Signature,)
    keeps_session_nonce = True  # the challenge is nonce32, fresh for every exchange anyway

    def needs_switch(self, first: bytes) -> bool:
        return True  # the nonce to sign only travels in the switch

    def switch_data(self, ctx: WireContext) -> bytes:
        return ctx.nonce32  # the nonce as it is: no NUL after it (MariaDB's server plugin)

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        credential: Credential = Ed25519Signature(ctx.nonce32, first)
        return credential
