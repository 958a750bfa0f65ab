"""The one exception type the protocol layer raises on malformed input."""


class ProtocolError(ValueError):
    """Malformed or unexpected bytes. The session answers ERR 1043 Bad handshake."""


class PacketsOutOfOrder(ProtocolError):
    """A packet's sequence id is not the next one. After login the session answers ERR 1156
    (ER_NET_PACKETS_OUT_OF_ORDER), as mysqld does; before it, 1043 Bad handshake."""


class PacketTooLarge(ProtocolError):
    """A packet's header announces more than the limit: refused before its body is read.
    The session answers ERR 1153 (ER_NET_PACKET_TOO_LARGE), as mysqld does."""
