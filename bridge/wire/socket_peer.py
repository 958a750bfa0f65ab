"""auth_socket: the kernel's SO_PEERCRED answer (in the context) is the credential; what the
client's plugin sends is never checked. The exchange still ends where the client's plugin
expects it to, or the client reads the OK as something else:

- a plugin that got the nonce it answers has answered: nothing more, except that
  caching_sha2_password, having sent a scramble, waits for the fast-auth byte before the OK
  (without it libmariadb takes the OK for "more data", goes to full authentication and
  sends the password, after the bridge has left the handshake), and sha256_password asking
  for the public key is sent it (its encrypted password is read and dropped, never
  decrypted);
- a plugin that may still be waiting for the server's first packet (libmariadb sends an
  empty answer when its plugin, --default-auth, is not the greeting's; the OK is not the
  nonce it waits for: ERROR 2012) is switched to itself, when it is one of those above, or
  to mysql_native_password, which every client has; so is every client on COM_CHANGE_USER.
A client that cannot follow a switch (no CLIENT_PLUGIN_AUTH) speaks the greeting's native
scramble, and is never switched."""

from __future__ import annotations

from collections.abc import Callable, Generator

from bridge.credentials import Credential, PeerCredentials
from bridge.wire.base import (
    RECEIVE,
    Opening,
    Send,
    WireContext,
    WireMethodBase,
    WireRun,
    WireStep,
    register,
)
from bridge.wire.caching_sha2 import FAST_AUTH_SUCCESS
from bridge.wire.sha256 import REQUEST_PUBLIC_KEY

SHA2_SCRAMBLE_LENGTH = 32
UNIVERSAL = "mysql_native_password"

Ending = Generator[WireStep, bytes, None]


def _nothing(ctx: WireContext, answer: bytes) -> Ending:
    yield from ()


def _fast_auth_success(ctx: WireContext, answer: bytes) -> Ending:
    """A scramble is answered 01 03; anything else (libmariadb before 3.1 sent the password
    in clear over TLS, then waited for the OK) is not."""
    if len(answer) == SHA2_SCRAMBLE_LENGTH:
        yield Send(FAST_AUTH_SUCCESS)


def _public_key_on_request(ctx: WireContext, answer: bytes) -> Ending:
    if answer == REQUEST_PUBLIC_KEY:
        yield Send(ctx.rsa.public_pem)
        yield RECEIVE  # the encrypted password: dropped


# The client plugins the bridge ends in their own terms, with what ends each.
ENDINGS: dict[str, Callable[[WireContext, bytes], Ending]] = {
    "mysql_native_password": _nothing,
    "caching_sha2_password": _fast_auth_success,
    "sha256_password": _public_key_on_request,
    "client_ed25519": _nothing,
}


@register
class SocketPeer(WireMethodBase):
    name = "auth_socket"
    proves = (PeerCredentials,)

    def switch_to(self, opening: Opening) -> str | None:
        if not opening.can_switch or not (opening.plugin is None or opening.waiting):
            return None
        return opening.plugin if opening.plugin in ENDINGS else UNIVERSAL

    def switch_data(self, ctx: WireContext) -> bytes:
        return b""

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ENDINGS.get(ctx.client_plugin or "", _nothing)(ctx, first)
        credential: Credential = PeerCredentials(ctx.peer_uid)
        return credential
