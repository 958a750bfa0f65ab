"""The one exception type the protocol layer raises on malformed input."""


class ProtocolError(ValueError):
    """Malformed or unexpected bytes. The session answers ERR 1043 Bad handshake."""
