"""auth_socket: no exchange at all. Whatever the client's plugin sent is ignored; the
kernel's SO_PEERCRED answer (in the context) is the credential."""

from __future__ import annotations

from bridge.credentials import Credential, PeerCredentials
from bridge.wire.base import WireContext, WireMethodBase, WireRun, register


@register
class SocketPeer(WireMethodBase):
    name = "auth_socket"
    proves = (PeerCredentials,)
    no_switch = True  # the client's plugin does not matter: no AuthSwitchRequest

    def switch_data(self, ctx: WireContext) -> bytes:
        return b""

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        credential: Credential = PeerCredentials(ctx.peer_uid)
        return credential
