"""Server side of each client authentication plugin, as pure generators (no I/O).

Importing this package fills the WIRE_METHODS registry.
"""

from bridge.wire import (
    caching_sha2,
    cleartext,
    dialog,
    ed25519_method,
    gssapi_methods,
    native,
    openid_connect,
    sha256,
    socket_peer,
)
from bridge.wire.base import WIRE_METHODS, Receive, Send, WireContext, WireMethod, WireRun

__all__ = [
    "WIRE_METHODS",
    "Receive",
    "Send",
    "WireContext",
    "WireMethod",
    "WireRun",
    "caching_sha2",
    "cleartext",
    "dialog",
    "ed25519_method",
    "gssapi_methods",
    "native",
    "openid_connect",
    "sha256",
    "socket_peer",
]
