"""SQL text as account dumps hold it, in tokens and statements, for `import-sql`.

A dump made with `mysql -N` holds what SHOW CREATE USER and SHOW GRANTS print: one statement
a line, with no `;` (a quoted name may hold a newline, so a statement can span lines). A
statement therefore ends at a `;`, or where a line outside quotes starts with the words that
open an account statement (OPENERS). Anything else on a line continues the statement before
it, so a hand-formatted statement may span lines as long as no continuation line starts with
an opener."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.mapping.names import unquote

_TOKEN = re.compile(
    r"""\s+|--[^\n]*|\#[^\n]*|/\*.*?\*/
    |(?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
    |(?P<ident>`(?:[^`]|``)*`)
    |(?P<hex>0x[0-9A-Fa-f]+|[xX]'[0-9A-Fa-f]*')
    |(?P<word>[A-Za-z0-9_$.%*-]+)
    |(?P<symbol>[@,;()=])""",
    re.VERBOSE | re.DOTALL,
)

# The first words of the statements SHOW CREATE USER, SHOW GRANTS and account dumps
# (pt-show-grants, mysqlpump --users) print, on MySQL 5.7/8.x and MariaDB.
OPENERS = (
    ("CREATE", "USER"), ("CREATE", "ROLE"), ("CREATE", "OR", "REPLACE"), ("ALTER", "USER"),
    ("DROP", "USER"), ("DROP", "ROLE"), ("RENAME", "USER"), ("SET", "PASSWORD"),
    ("SET", "DEFAULT", "ROLE"), ("GRANT",), ("REVOKE",), ("FLUSH", "PRIVILEGES"),
)  # fmt: skip
_LONGEST = max(len(words) for words in OPENERS)
_FIRST_WORDS = frozenset(words[0] for words in OPENERS)


class SqlSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    starts_line: bool = False  # only whitespace or comments before it on its line

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def tokenize(sql: str) -> list[Token]:
    tokens, pos = [], 0
    line, fresh = 1, True  # counted as the text goes by, not from the start for every token
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            raise SqlSyntaxError(f"line {line}: cannot read {sql[pos : pos + 20]!r}")
        if match.lastgroup:
            tokens.append(Token(match.lastgroup, match.group(), line, fresh))
            fresh = False
        elif "\n" in match.group():
            fresh = True
        line += sql.count("\n", pos, match.end())
        pos = match.end()
    return tokens


def opens_statement(tokens: list[Token], i: int) -> bool:
    """Do the words at tokens[i] open an account statement? (`GRANT OPTION` does not: it is
    a privilege, and `WITH GRANT OPTION` ends a GRANT.)"""
    if tokens[i].upper not in _FIRST_WORDS:  # most words: checked once, not per opener
        return False
    words = tuple(t.upper for t in tokens[i : i + _LONGEST])
    if words[:2] == ("GRANT", "OPTION"):
        return False
    return any(words[: len(opener)] == opener for opener in OPENERS)


def statements(tokens: list[Token]) -> list[list[Token]]:
    """Split at `;` and before a line that starts with an opener."""
    out: list[list[Token]] = [[]]
    for i, token in enumerate(tokens):
        if token.kind == "symbol" and token.text == ";":
            out.append([])
            continue
        if token.starts_line and out[-1] and opens_statement(tokens, i):
            out.append([])
        out[-1].append(token)
    return [s for s in out if s]


def embedded_opener(statement: list[Token]) -> Token | None:
    """The first opener inside a statement (two statements on one line with no `;` between
    them), or None. A GRANT's or REVOKE's privilege list (CREATE USER, DROP ROLE ...) is not
    looked at: the search starts at its TO or FROM."""
    start = 1
    if statement[0].upper in ("GRANT", "REVOKE"):
        ends = [i for i, t in enumerate(statement) if t.upper in ("TO", "FROM")]
        start = ends[0] if ends else len(statement)
    for i in range(start, len(statement)):
        if opens_statement(statement, i):
            return statement[i]
    return None


class Cursor:
    """A statement's tokens, read left to right by the statement's grammar."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self, ahead: int = 0) -> Token | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise SqlSyntaxError("the statement ends too early")
        self.pos += 1
        return token

    def accept(self, *words: str) -> bool:
        """Consume the words if they come next (case-insensitive)."""
        for i, word in enumerate(words):
            token = self.peek(i)
            if token is None or (token.upper != word and token.text != word):
                return False
        self.pos += len(words)
        return True

    def one_of(self, words: Iterable[str], after: str) -> str:
        """The next word, which must be one of `words`."""
        choices = tuple(words)
        token = self.peek()
        word = None if token is None else token.upper or token.text
        if token is None or word not in choices:
            said = "the end" if token is None else repr(token.text)
            raise SqlSyntaxError(f"{after} must be followed by {' or '.join(choices)}, not {said}")
        self.pos += 1
        return token.upper or token.text

    def value(self) -> str:
        token = self.take()
        if token.kind not in ("string", "ident", "word"):
            raise SqlSyntaxError(f"expected a name or string, got {token.text!r}")
        return unquote(token.text)

    def string(self, after: str, secret: bool = False) -> str:
        """A quoted string ('x' or "x"), as after BY or COMMENT. `secret`: where a password
        goes, so the report does not show what stands there instead (an unquoted password)."""
        token = self.take()
        if token.kind != "string":
            shown = f"a {token.kind} (not shown: it may be the password)" if secret else None
            raise SqlSyntaxError(
                f"{after} must be followed by a quoted string, not {shown or repr(token.text)}"
            )
        return unquote(token.text)

    def number(self, after: str) -> str:
        token = self.take()
        if token.kind != "word" or not token.text.replace(".", "", 1).isdigit():
            raise SqlSyntaxError(f"{after} must be followed by a number, not {token.text!r}")
        return token.text

    def account(self) -> tuple[str, str]:
        user = self.value()
        if self.accept("@"):
            return user, self.value()
        if "@" in user and self.tokens[self.pos - 1].kind == "word":
            name, _, host = user.partition("@")
            return name, host
        return user, "%"

    def accounts(self) -> list[tuple[str, str]]:
        """`a[, b ...]`."""
        names = [self.account()]
        while self.accept(","):
            names.append(self.account())
        return names
