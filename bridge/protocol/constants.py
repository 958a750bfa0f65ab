"""Protocol constants with the names used by the MySQL protocol documentation.

https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html
"""

from __future__ import annotations

from enum import IntEnum


class Capability(IntEnum):
    """Capability flags. Bits 32-63 hold MariaDB's extended capabilities, which travel
    in the last four bytes of the greeting's and the response's reserved area.

    An IntEnum rather than an IntFlag: the names are typed, and `caps & FLAG` stays plain
    int arithmetic (IntFlag builds a new member on every operation, a measured cost on
    the login path)."""

    CLIENT_LONG_PASSWORD = 1 << 0  # MariaDB calls this CLIENT_MYSQL
    CLIENT_FOUND_ROWS = 1 << 1
    CLIENT_LONG_FLAG = 1 << 2
    CLIENT_CONNECT_WITH_DB = 1 << 3
    CLIENT_NO_SCHEMA = 1 << 4
    CLIENT_COMPRESS = 1 << 5
    CLIENT_ODBC = 1 << 6
    CLIENT_LOCAL_FILES = 1 << 7
    CLIENT_IGNORE_SPACE = 1 << 8
    CLIENT_PROTOCOL_41 = 1 << 9
    CLIENT_INTERACTIVE = 1 << 10
    CLIENT_SSL = 1 << 11
    CLIENT_IGNORE_SIGPIPE = 1 << 12
    CLIENT_TRANSACTIONS = 1 << 13
    CLIENT_RESERVED = 1 << 14
    CLIENT_SECURE_CONNECTION = 1 << 15
    CLIENT_MULTI_STATEMENTS = 1 << 16
    CLIENT_MULTI_RESULTS = 1 << 17
    CLIENT_PS_MULTI_RESULTS = 1 << 18
    CLIENT_PLUGIN_AUTH = 1 << 19
    CLIENT_CONNECT_ATTRS = 1 << 20
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
    CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22
    CLIENT_SESSION_TRACK = 1 << 23
    CLIENT_DEPRECATE_EOF = 1 << 24
    CLIENT_OPTIONAL_RESULTSET_METADATA = 1 << 25
    CLIENT_ZSTD_COMPRESSION_ALGORITHM = 1 << 26
    CLIENT_QUERY_ATTRIBUTES = 1 << 27
    MULTI_FACTOR_AUTHENTICATION = 1 << 28
    CLIENT_CAPABILITY_EXTENSION = 1 << 29
    CLIENT_SSL_VERIFY_SERVER_CERT = 1 << 30
    CLIENT_REMEMBER_OPTIONS = 1 << 31
    MARIADB_CLIENT_PROGRESS = 1 << 32
    MARIADB_CLIENT_COM_MULTI = 1 << 33
    MARIADB_CLIENT_STMT_BULK_OPERATIONS = 1 << 34
    MARIADB_CLIENT_EXTENDED_METADATA = 1 << 35
    MARIADB_CLIENT_CACHE_METADATA = 1 << 36
    MARIADB_CLIENT_BULK_UNIT_RESULTS = 1 << 37


LOWER_32 = 0xFFFFFFFF

# Offered on neither leg. With query attributes (MySQL 8.0.23+) every COM_QUERY starts with
# a parameter block, typed binary values included, before the SQL: the bridge reads the SQL
# of a COM_QUERY to find a KILL of one of its own connection ids (bridge/protocol/kill.py),
# and a KILL it did not see would reach the upstream with the bridge's id as a thread id.
WITHHELD = Capability.CLIENT_QUERY_ATTRIBUTES

# Bits that belong to one hop (client<->bridge or bridge<->upstream) and are never copied
# from one leg to the other: transport security, compression, and how authentication and
# attributes are encoded on that hop; and the WITHHELD ones.
PER_HOP = WITHHELD | (
    Capability.CLIENT_SSL
    | Capability.CLIENT_COMPRESS
    | Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM
    | Capability.CLIENT_SSL_VERIFY_SERVER_CERT
    | Capability.CLIENT_REMEMBER_OPTIONS
    | Capability.CLIENT_PLUGIN_AUTH
    | Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | Capability.CLIENT_SECURE_CONNECTION
    | Capability.CLIENT_CONNECT_ATTRS
    | Capability.CLIENT_CONNECT_WITH_DB
    | Capability.MULTI_FACTOR_AUTHENTICATION
    | Capability.CLIENT_CAPABILITY_EXTENSION
    | Capability.MARIADB_CLIENT_COM_MULTI
)

# What the bridge needs from every client: 4.1 protocol with length-prefixed auth data.
REQUIRED_FROM_CLIENT = Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION

# What the bridge itself speaks on the client hop, whatever the upstream offers.
BRIDGE_HOP = (
    Capability.CLIENT_PROTOCOL_41
    | Capability.CLIENT_SECURE_CONNECTION
    | Capability.CLIENT_PLUGIN_AUTH
    | Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
    | Capability.CLIENT_CONNECT_ATTRS
    | Capability.CLIENT_CONNECT_WITH_DB
)


class ServerStatus(IntEnum):
    SERVER_STATUS_IN_TRANS = 0x0001
    SERVER_STATUS_AUTOCOMMIT = 0x0002
    SERVER_MORE_RESULTS_EXISTS = 0x0008
    SERVER_SESSION_STATE_CHANGED = 0x4000


class Command(IntEnum):
    COM_SLEEP = 0x00
    COM_QUIT = 0x01
    COM_INIT_DB = 0x02
    COM_QUERY = 0x03
    COM_PROCESS_KILL = 0x0C
    COM_PING = 0x0E
    COM_CHANGE_USER = 0x11
    COM_STMT_PREPARE = 0x16
    COM_STMT_EXECUTE = 0x17
    COM_STMT_CLOSE = 0x19
    COM_SET_OPTION = 0x1B
    COM_RESET_CONNECTION = 0x1F


class Marker(IntEnum):
    """First payload byte of the server's packets during authentication."""

    OK = 0x00
    AUTH_MORE_DATA = 0x01
    AUTH_SWITCH_REQUEST = 0xFE
    EOF = 0xFE
    ERR = 0xFF


MAX_PAYLOAD = 0xFFFFFF  # a payload of this length continues in the next packet
HEADER_SIZE = 4
SCRAMBLE_LENGTH = 20
DEFAULT_CHARSET = 45  # utf8mb4_general_ci
