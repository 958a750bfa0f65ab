"""authentication_openid_connect_client (MySQL 9.1+, Connector/Python's openid_token_file):
the client answers with a capability byte and a length-encoded ID token, nothing else.

A token is a bearer credential: TLS or the Unix socket only, whatever
allow_insecure_cleartext says (mysqld's plugin and the clients refuse it too).
"""

from __future__ import annotations

from bridge.credentials import Credential, OidcToken
from bridge.errors import Denied, SecureTransportRequired
from bridge.protocol.codec import Reader
from bridge.protocol.errors import ProtocolError
from bridge.wire.base import WireContext, WireMethodBase, WireRun, register

CAPABILITY_TOKEN = 0x01  # the only capability the client plugin announces: "an ID token"


def parse_token_answer(data: bytes) -> bytes:
    """int<1> capability flags, string<lenenc> the ID token: the token, or Denied."""
    try:
        reader = Reader(data)
        flags = reader.u8()
        token = reader.lenenc_bytes()
    except ProtocolError:
        raise Denied("malformed authentication_openid_connect_client answer") from None
    if not reader.at_end():
        raise Denied("authentication_openid_connect_client answer with bytes after the token")
    if not flags & CAPABILITY_TOKEN:
        raise Denied(f"authentication_openid_connect_client capability {flags:#x}: no token")
    return token


@register
class OpenIdConnectClient(WireMethodBase):
    name = "authentication_openid_connect_client"
    proves = (OidcToken,)

    def switch_data(self, ctx: WireContext) -> bytes:
        return b""  # the client asks the server for nothing

    def check_transport(self, ctx: WireContext) -> None:
        if not ctx.secure:
            why = "OpenID Connect token over insecure transport"
            raise SecureTransportRequired(SecureTransportRequired.CLEARTEXT, why)

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        self.check_transport(ctx)
        credential: Credential = OidcToken(parse_token_answer(first))
        return credential
