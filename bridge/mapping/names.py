"""MySQL account names: 'user'@'host', `user`@`host`, "user"@"host", user@host, 'user'."""

from __future__ import annotations

import functools
import re

_PART = r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`|[^@'"`\s]*"""
_ACCOUNT = re.compile(rf"\s*(?P<user>{_PART})\s*(?:@\s*(?P<host>{_PART}))?\s*")


# MySQL's string escapes; \% and \_ keep their backslash (for LIKE patterns and hosts)
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "0": "\0",
    "r": "\r",
    "Z": "\x1a",
    "b": "\b",
    "%": "\\%",
    "_": "\\_",
}


class AccountNameError(ValueError):
    pass


def unquote(part: str) -> str:
    """A quoted or bare identifier or string, as MySQL reads it."""
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"`":
        quote, body = part[0], part[1:-1]
        body = body.replace(quote * 2, quote)
        if quote != "`":
            body = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), body)
        return body
    return part


def parse_account(text: str) -> tuple[str, str]:
    """(user, host) of an account name; the host defaults to '%' as in CREATE USER."""
    match = _ACCOUNT.fullmatch(text)
    if match is None or (match["user"] == "" and match["host"] is None):
        raise AccountNameError(f"{text!r} is not an account name like 'user'@'host'")
    host = match["host"]
    return unquote(match["user"]), "%" if host is None else unquote(host)


@functools.lru_cache(maxsize=4096)
def format_account(user: str, host: str) -> str:
    def quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return f"{quote(user)}@{quote(host)}"
