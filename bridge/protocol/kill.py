"""KILL statements and COM_PROCESS_KILL, read the way the bridge needs to translate them.

A client names a connection by the id in the bridge's greeting; the upstream knows its own
thread ids. `KILL [HARD | SOFT] [CONNECTION | QUERY] <id>` (any case, spacing, comments,
and MySQL's executable comments `/*! ... */`) is translated; `KILL QUERY ID <query id>` and
`KILL USER <name>` name no connection and pass as they are. Any other KILL (an expression
for the id, more statements after it) is refused: the bridge never forwards a number it
could not translate.

The relay calls `might_be_kill` on the first byte of every COM_QUERY: cheap, and false for
nearly all queries ('S', 'I', 'U', ...)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Literal

from bridge.protocol.errors import ProtocolError

# What a KILL statement can start with: the keyword, whitespace, or a comment.
KILL_START = frozenset(b"kK \t\r\n\f/#-")

_TOKEN = re.compile(
    rb"""
    (?P<space>\s+)
  | (?P<code_open>/\*M?!\d{0,6})      # executable comment: its body is code
  | (?P<comment>/\*.*?\*/)
  | (?P<line>(?:\#|--(?=\s|$))[^\n]*)
  | (?P<code_close>\*/)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<number>\d+(?![A-Za-z0-9_$.]))
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

Action = Literal["translate", "forward", "refuse"]


@dataclass(frozen=True, slots=True)
class Kill:
    action: Action
    target: int = 0  # the bridge connection id (translate)
    query_only: bool = False  # KILL QUERY: the statement, not the connection
    modifier: str = ""  # HARD or SOFT (MariaDB), kept in the translated statement
    reason: str = ""  # why it is refused

    def statement(self, thread_id: int) -> bytes:
        """The translated statement for the upstream."""
        words = ["KILL", self.modifier, "QUERY" if self.query_only else "CONNECTION"]
        return (" ".join(w for w in words if w) + f" {thread_id}").encode()


def might_be_kill(first_sql_byte: int) -> bool:
    return first_sql_byte in KILL_START


def _tokens(sql: bytes) -> list[bytes]:
    """Words, numbers and punctuation; whitespace, comments and executable-comment markers
    dropped. Raises ProtocolError on an unterminated comment."""
    out = []
    for match in _TOKEN.finditer(sql):
        if match.lastgroup in ("word", "number", "other"):
            if sql.startswith(b"/*", match.start()):
                raise ProtocolError("unterminated comment")
            out.append(match.group())
    return out


def parse_kill(sql: bytes) -> Kill | None:
    """The KILL statement in a COM_QUERY's text, or None when it is not a KILL."""
    try:
        tokens = _tokens(sql)
    except ProtocolError:
        return None
    if not tokens or tokens[0].upper() != b"KILL":
        return None
    rest = [t.upper() for t in tokens[1:]]
    modifier = ""
    if rest[:1] in ([b"HARD"], [b"SOFT"]):
        modifier = rest.pop(0).decode()
    query_only = False
    if rest[:1] in ([b"CONNECTION"], [b"QUERY"]):
        query_only = rest.pop(0) == b"QUERY"
    if rest[:1] == [b"USER"] or (query_only and rest[:1] == [b"ID"]):
        return Kill("forward")  # a user name or a query id: no connection id to translate
    while rest and rest[-1] == b";":
        rest.pop()
    if len(rest) == 1 and rest[0].isdigit():
        return Kill("translate", int(rest[0]), query_only, modifier)
    return Kill("refuse", reason="KILL needs a connection id as a plain number, alone in its query")


def parse_process_kill(payload: bytes) -> int:
    """COM_PROCESS_KILL: int<1> 0x0C, int<4> connection id."""
    if len(payload) < 5:
        raise ProtocolError("COM_PROCESS_KILL without a connection id")
    (target,) = struct.unpack_from("<I", payload, 1)
    return int(target)


def build_process_kill(thread_id: int) -> bytes:
    return b"\x0c" + struct.pack("<I", thread_id)
