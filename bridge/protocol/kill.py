"""KILL statements and COM_PROCESS_KILL, read the way the bridge needs to translate them.

A client names a connection by the id in the bridge's greeting; the upstream knows its own
thread ids. `KILL [HARD | SOFT] [CONNECTION | QUERY] <id>` (any case, spacing, comments,
and MySQL's executable comments `/*! ... */`) is translated; `KILL QUERY ID <query id>` and
`KILL USER <name>` name no connection and pass as they are. Any other KILL (an expression
for the id, more statements after it) is refused: the bridge never forwards a number it
could not translate.

The relay calls `might_be_kill` on the first byte of every COM_QUERY: cheap, and false for
nearly all queries ('S', 'I', 'U', ...). Of a held query it reads at most QUERY_HEAD payload
bytes: a longer one is decided by `parse_long_kill` on its start."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Literal

from bridge.protocol.errors import ProtocolError

# What a KILL statement can start with: the keyword, whitespace (MariaDB's: 0x09-0x0D, 0x20,
# and 0xA0 in latin1), or a comment.
KILL_START = frozenset(b"kK \t\n\v\f\r\xa0/#-")

_TOKEN = re.compile(
    rb"""
    (?P<space>[\s\xa0]+)
  | (?P<gated_open>/\*M?!\d{5,6})   # executable from a server version on: code or not
  | (?P<code_open>/\*M?!)            # executable comment: its body is code
  | (?P<comment>/\*.*?\*/)
  | (?P<line>(?:\#|--(?=\s|$))[^\n]*)
  | (?P<code_close>\*/)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<number>\d+(?![A-Za-z0-9_$.]))
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_KILL_WORD = re.compile(rb"kill", re.IGNORECASE)  # no statement is a KILL without it
# How much of a query that may be a KILL is read: a KILL with its comments fits many times.
PARSE_LIMIT = 4096
QUERY_HEAD = 1 + PARSE_LIMIT  # of a held COM_QUERY's payload: the command byte, the SQL
_GATED = re.compile(rb"/\*M?!\d")  # a version-gated comment: two readings

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


def _tokens(sql: bytes, gated_is_code: bool, cut: bool = False) -> list[bytes]:
    """Words, numbers and punctuation; whitespace, comments and executable-comment markers
    dropped. A version-gated comment (`/*!50700 ... */`) is code or a comment as the
    upstream's version decides: `gated_is_code` says which to assume. Raises ProtocolError on
    an unterminated comment, unless `cut` (the start of a longer text: the tokens so far)."""
    out: list[bytes] = []
    skipping = False
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind == "gated_open" and not gated_is_code:
            skipping = True
        elif kind == "code_close":
            skipping = False
        elif kind in ("word", "number", "other") and not skipping:
            if sql.startswith(b"/*", match.start()):
                if cut:
                    return out
                raise ProtocolError("unterminated comment")
            out.append(match.group())
    return out


def _statements(tokens: list[bytes]) -> list[list[bytes]]:
    """The tokens split at ';' (multi-statements), empty statements dropped."""
    out: list[list[bytes]] = [[]]
    for token in tokens:
        if token == b";":
            out.append([])
        else:
            out[-1].append(token)
    return [s for s in out if s]


def parse_kill(sql: bytes) -> Kill | None:
    """The KILL statement in a COM_QUERY's text, or None when it is not a KILL. A query
    where a KILL hides (after another statement, or behind a version-gated comment that the
    upstream may skip) is refused: its number would reach the upstream untranslated."""
    if _KILL_WORD.search(sql) is None:
        return None  # the common case: a comment or spaces before some other statement
    if len(sql) > PARSE_LIMIT:
        return parse_long_kill(sql[:PARSE_LIMIT])
    readings = []
    for gated_is_code in (True, False) if _GATED.search(sql) else (True,):
        try:
            readings.append(_tokens(sql, gated_is_code))
        except ProtocolError:
            return None
    kill = _parse_tokens(readings[0])
    skipped = _parse_tokens(readings[-1])  # what the upstream runs if it skips gated comments
    if not _hidden_kill(readings) and (skipped is None or skipped == kill):
        return kill
    return Kill("refuse", reason="KILL needs a connection id as a plain number, alone in its query")


def parse_long_kill(head: bytes) -> Kill | None:
    """A query longer than PARSE_LIMIT, read only as far as `head` (its first PARSE_LIMIT
    bytes): no KILL the bridge can translate is that long, and reading all of it (a client
    chooses how long, up to 1 GiB) would hold the event loop and memory many times its
    size; the relay streams the rest on (or drops it, refused) as it comes. Refused when it
    starts with KILL, when `head` shows no whole first word, or when a KILL hides in
    `head`; otherwise passed on (a KILL further on reaches the upstream as one behind a
    statement the bridge does not hold does: the upstream's privileges decide)."""
    gated = _GATED.search(head) is not None
    readings = [_tokens(head, g, cut=True)[:-1] for g in ((True, False) if gated else (True,))]
    if all(r and r[0].upper() != b"KILL" for r in readings) and not _hidden_kill(readings):
        return None
    return Kill("refuse", reason="a query over 4 KiB that starts with KILL or hides one")


def _hidden_kill(readings: list[list[bytes]]) -> bool:
    """A KILL statement that is not the query's first."""
    return any(
        statement[0].upper() == b"KILL"
        for tokens in readings
        for statement in _statements(tokens)[1:]
    )


def _parse_tokens(tokens: list[bytes]) -> Kill | None:
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
