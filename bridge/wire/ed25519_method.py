"""client_ed25519 (MariaDB's ed25519): the AuthSwitchRequest carries a 32-byte nonce, the
client answers with its 64-byte Ed25519 signature of it, keyed by the password.

No scramble of the greeting is involved: a client that opens with client_ed25519 in its
HandshakeResponse (libmariadb never does, since the greeting does not name it) has signed
nothing the bridge sent, and its answer is checked against the fresh nonce, so it fails.
"""

from __future__ import annotations

from bridge.credentials import Credential, Ed25519Signature
from bridge.wire.base import WireContext, WireMethodBase, WireRun, register


@register
class ClientEd25519(WireMethodBase):
    name = "client_ed25519"

    def switch_data(self, ctx: WireContext) -> bytes:
        return ctx.nonce32  # the nonce as it is: no NUL after it (MariaDB's server plugin)

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        credential: Credential = Ed25519Signature(ctx.nonce32, first)
        return credential
