"""What a client can leave on an upstream connection that neither COM_RESET_CONNECTION nor
COM_CHANGE_USER ends, and the commands the pool sends to end it before the connection is
kept for another client (bridge/upstream/pool.py).

Measured on MariaDB 10.11, each surviving both COM_RESET_CONNECTION and COM_CHANGE_USER:

- COM_SET_OPTION (`mysql_set_server_option()`, mysqlnd's `multi_query`) switches
  multi-statements on or off for the connection, whatever the client negotiated: the next
  client, which may not have asked for multi-statements, would have `SELECT 1; DROP ...`
  run as two statements. The pool sets the option back to what the pool key says (the
  capabilities every client of that key negotiated).
- SET ROLE: the role the client enabled stays enabled when the account has no default
  role (with one, COM_CHANGE_USER enables the default role). `SET ROLE NONE` leaves the
  next COM_CHANGE_USER to enable the default role, as a fresh login does. Sent to MariaDB
  10.0.5 and later (roles), not to MySQL, where it has not been measured.
- SET profiling = 1: SHOW PROFILES (information_schema.PROFILING) goes on listing the
  client's last statements, their text with every literal in it, and keeps recording
  after COM_CHANGE_USER, though @@profiling then reads 0. MariaDB trims the history to
  profiling_history_size only at the end of a statement profiled from start to end, so:
  `SET SESSION profiling = 1` (whatever the client left), `SET SESSION
  profiling_history_size = 0` (profiled: the history is emptied), `SET SESSION profiling
  = 0` (not kept: the recording ends); the next COM_CHANGE_USER restores the history
  size. MariaDB only, as for roles.

Each command is answered with one packet, in order: an OK (or the EOF that COM_SET_OPTION
answers with); anything else means the connection is not kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from bridge.protocol.constants import Capability, Command, Marker
from bridge.protocol.framing import frame
from bridge.protocol.packets import build_com_query
from bridge.upstream.version import is_mariadb, release

MULTI_STATEMENTS_ON, MULTI_STATEMENTS_OFF = 0, 1  # COM_SET_OPTION's int<2> option
ROLES_SINCE = (10, 0, 5)  # MariaDB
PROFILES_OFF = (
    b"SET SESSION profiling = 1",
    b"SET SESSION profiling_history_size = 0",
    b"SET SESSION profiling = 0",
)


@dataclass(frozen=True, slots=True)
class Step:
    """One command of the give-back check and the answer it must get."""

    what: str
    payload: bytes
    accepts: Callable[[bytes], bool]


def _ok(payload: bytes) -> bool:
    return payload[:1] == bytes([Marker.OK])


def _ok_or_eof(payload: bytes) -> bool:
    """COM_SET_OPTION's answer: an EOF packet (or, with CLIENT_DEPRECATE_EOF, an OK packet
    with the 0xFE header), short either way."""
    return payload[:1] in (bytes([Marker.OK]), bytes([Marker.EOF])) and len(payload) < 0xFFFFFF


def _query(sql: bytes, capabilities: int) -> Step:
    return Step(sql.decode(), build_com_query(sql, capabilities), _ok)


def has_roles(server_version: str) -> bool:
    """MariaDB with roles (10.0.5 and later); False for MySQL and anything unknown."""
    found = release(server_version)
    return found is not None and is_mariadb(server_version) and found >= ROLES_SINCE


def set_option(capabilities: int) -> bytes:
    """COM_SET_OPTION back to the multi-statements the connection's clients negotiated."""
    multi = capabilities & Capability.CLIENT_MULTI_STATEMENTS
    option = MULTI_STATEMENTS_ON if multi else MULTI_STATEMENTS_OFF
    return bytes([Command.COM_SET_OPTION]) + option.to_bytes(2, "little")


@functools.lru_cache(maxsize=64)
def cleanup_steps(server_version: str, capabilities: int) -> tuple[Step, ...]:
    """The commands sent after the check's query, in the order they are answered. The same
    for every give-back of a connection: made once per upstream version and capabilities."""
    steps = []
    if is_mariadb(server_version):
        steps += [_query(sql, capabilities) for sql in PROFILES_OFF]
    steps.append(Step("COM_RESET_CONNECTION", bytes([Command.COM_RESET_CONNECTION]), _ok))
    if has_roles(server_version):
        steps.append(_query(b"SET ROLE NONE", capabilities))
    steps.append(Step("COM_SET_OPTION", set_option(capabilities), _ok_or_eof))
    return tuple(steps)


@functools.lru_cache(maxsize=64)
def framed_steps(server_version: str, capabilities: int) -> bytes:
    """cleanup_steps as packets, each a command of its own (sequence id 0), for one write."""
    return b"".join(frame(step.payload, 0) for step in cleanup_steps(server_version, capabilities))
