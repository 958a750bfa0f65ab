"""`mysql-auth-bridge import-sql`: CREATE USER and GRANT PROXY statements, as SHOW CREATE USER
and SHOW GRANTS print them on MySQL (Community, Enterprise, Percona) and MariaDB, turned into
an accounts file. Every statement that is not translated is reported with the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bridge.hashing import HASHERS, make_sha2, to_text
from bridge.mapping.names import format_account, unquote
from bridge.plugins import PLUGINS, STORE_PLUGINS, validate_row

# MariaDB's and Percona's plugin names for what MySQL and the bridge call otherwise.
PLUGIN_NAMES = {
    "pam": "authentication_pam",
    "auth_pam": "authentication_pam",
    "unix_socket": "auth_socket",
    "gssapi": "authentication_kerberos",
    "auth_pam_compat": "authentication_pam",
}

_TOKEN = re.compile(
    r"""\s+|--[^\n]*|\#[^\n]*|/\*.*?\*/
    |(?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
    |(?P<ident>`(?:[^`]|``)*`)
    |(?P<hex>0x[0-9A-Fa-f]+|[xX]'[0-9A-Fa-f]*')
    |(?P<word>[A-Za-z0-9_$.%*-]+)
    |(?P<symbol>[@,;()=])""",
    re.VERBOSE | re.DOTALL,
)


class SqlSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def tokenize(sql: str) -> list[Token]:
    tokens, pos = [], 0
    line = 1  # counted as the text goes by, not from the start for every token
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            raise SqlSyntaxError(f"line {line}: cannot read {sql[pos : pos + 20]!r}")
        if match.lastgroup:
            tokens.append(Token(match.lastgroup, match.group(), line))
        line += sql.count("\n", pos, match.end())
        pos = match.end()
    return tokens


def statements(tokens: list[Token]) -> list[list[Token]]:
    out: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == "symbol" and token.text == ";":
            out.append([])
        else:
            out[-1].append(token)
    return [s for s in out if s]


@dataclass
class Result:
    accounts: list[dict[str, str]] = field(default_factory=list)
    grants: dict[str, list[str]] = field(default_factory=dict)
    not_translated: list[str] = field(default_factory=list)  # would lose an account
    skipped: list[str] = field(default_factory=list)  # not about authentication

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"accounts": self.accounts}
        if self.grants:
            doc["proxy_grants"] = [{"proxy": p, "proxied": t} for p, t in self.grants.items()]
        return doc


class _Cursor:
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

    def value(self) -> str:
        token = self.take()
        if token.kind not in ("string", "ident", "word"):
            raise SqlSyntaxError(f"expected a name or string, got {token.text!r}")
        return unquote(token.text)

    def account(self) -> tuple[str, str]:
        user = self.value()
        if self.accept("@"):
            return user, self.value()
        if "@" in user and self.tokens[self.pos - 1].kind == "word":
            name, _, host = user.partition("@")
            return name, host
        return user, "%"


def _auth_string(token: Token) -> bytes:
    if token.kind == "hex":
        text = token.text
        return bytes.fromhex(text[2:] if text.startswith("0x") else text[2:-1])
    return unquote(token.text).encode("utf-8")


def _identified(cur: _Cursor) -> tuple[str, bytes] | str:
    """(plugin, authentication_string) after IDENTIFIED, or the reason it can't be used."""
    if cur.accept("BY", "PASSWORD"):  # MySQL 5.x / MariaDB: a native hash
        return "mysql_native_password", _auth_string(cur.take())
    if cur.accept("BY"):  # a password in clear: hash it (SHA-2, MySQL 8's default)
        password = cur.value().encode()
        return "caching_sha2_password", to_text(make_sha2(password)).encode()
    if not (cur.accept("WITH") or cur.accept("VIA")):
        return "IDENTIFIED must be followed by BY, WITH or VIA"
    plugin = cur.value().lower()
    plugin = PLUGIN_NAMES.get(plugin, plugin)
    if cur.accept("AS") or cur.accept("USING"):
        if cur.accept("PASSWORD", "("):  # MariaDB: USING PASSWORD('x')
            password = cur.value().encode()
            cur.accept(")")
            return plugin, _native_or_sha2(plugin, password)
        auth = _auth_string(cur.take())
    elif cur.accept("BY"):
        # A password for the built-in plugins; for external ones (LDAP's DN, Kerberos' realm)
        # MySQL takes BY as the authentication string itself.
        value = cur.value().encode()
        return plugin, _native_or_sha2(plugin, value) if plugin in STORE_PLUGINS else value
    else:
        auth = b""
    if cur.accept("OR"):
        return "several authentication methods (IDENTIFIED VIA ... OR ...) are not supported"
    return plugin, auth


def _native_or_sha2(plugin: str, password: bytes) -> bytes:
    """The plugin's own stored form of the password (SHA-2 for a plugin that has none)."""
    return to_text(HASHERS.get(plugin, make_sha2)(password)).encode()


def _create_user(cur: _Cursor, where: str, result: Result) -> None:
    cur.accept("IF", "NOT", "EXISTS")
    specs = []
    while True:
        user, host = cur.account()
        outcome = _identified(cur) if cur.accept("IDENTIFIED") else ("mysql_native_password", b"")
        specs.append((user, host, outcome))
        if not cur.accept(","):
            break
    rest = [t.upper for t in cur.tokens[cur.pos :]]
    locked = any(rest[i : i + 2] == ["ACCOUNT", "LOCK"] for i in range(len(rest)))
    for user, host, outcome in specs:
        if locked:
            outcome = "ACCOUNT LOCK: a locked account is not imported"
        _store(result, where, user, host, outcome)


def _store(
    result: Result, where: str, user: str, host: str, outcome: tuple[str, bytes] | str
) -> None:
    name = format_account(user, host)
    if isinstance(outcome, str):
        result.not_translated.append(f"{where}: {name}: {outcome}")
        return
    plugin, auth = outcome
    if plugin not in PLUGINS:
        reason = f"plugin '{plugin}' is not supported by this bridge"
        result.not_translated.append(f"{where}: {name}: {reason}")
        return
    try:
        validate_row(plugin, auth)
    except ValueError as exc:
        result.not_translated.append(f"{where}: {name}: {exc}")
        return
    printable = auth.isascii() and auth.decode("ascii").isprintable()
    text = auth.decode("ascii") if printable else "0x" + auth.hex().upper()
    result.accounts.append(
        {"user": user, "host": host, "plugin": plugin, "authentication_string": text}
    )


def _grant(cur: _Cursor, where: str, result: Result) -> bool:
    """GRANT PROXY ON a TO b[, c]; False if this is another kind of GRANT."""
    if not cur.accept("PROXY", "ON"):
        return False
    proxied = format_account(*cur.account())
    if not cur.accept("TO"):
        raise SqlSyntaxError("GRANT PROXY ON ... needs TO")
    while True:
        proxy = format_account(*cur.account())
        result.grants.setdefault(proxy, []).append(proxied)
        if not cur.accept(","):
            return True


def import_sql(sql: str, source: str = "-") -> Result:
    result = Result()
    for statement in statements(tokenize(sql)):
        where = f"{source}:{statement[0].line}"
        cur = _Cursor(statement)
        try:
            if cur.accept("CREATE", "USER"):
                _create_user(cur, where, result)
            elif cur.accept("GRANT"):
                if not _grant(cur, where, result):
                    result.skipped.append(f"{where}: privileges stay on the upstream server")
            else:
                words = " ".join(t.text for t in statement[:3])
                result.skipped.append(f"{where}: '{words} ...' is not CREATE USER or GRANT PROXY")
        except SqlSyntaxError as exc:
            result.not_translated.append(f"{where}: cannot parse: {exc}")
    _drop_orphan_grants(result)
    return result


def _drop_orphan_grants(result: Result) -> None:
    """A PROXY grant to an account that was not imported cannot be loaded: report it."""
    imported = {format_account(a["user"], a["host"]) for a in result.accounts}
    for proxy in [p for p in result.grants if p not in imported]:
        for proxied in result.grants.pop(proxy):
            result.not_translated.append(
                f"GRANT PROXY ON {proxied} TO {proxy}: {proxy} was not imported"
            )


class _Dumper(yaml.SafeDumper):
    """Account names like 'dev'@'%' read best in double quotes."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if "'" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(result: Result) -> str:
    return yaml.dump(
        result.document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=200
    )
