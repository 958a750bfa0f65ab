"""The one exception type the protocol layer raises on malformed input."""


class ProtocolError(ValueError):
    """Malformed or unexpected bytes. The session answers ERR 1043 Bad handshake."""


class PacketTooLarge(ProtocolError):
    """A packet's header announces more than the limit: refused before its body is read.
    The session answers ERR 1153 (ER_NET_PACKET_TOO_LARGE), as mysqld does."""
