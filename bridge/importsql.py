"""`mysql-auth-bridge import-sql`: CREATE USER and GRANT PROXY statements, as SHOW CREATE USER
and SHOW GRANTS print them on MySQL (Community, Enterprise, Percona) and MariaDB, turned into
an accounts file. Every statement that is not translated is reported with the reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from bridge.hashing import HASHERS, make_sha2, to_text
from bridge.mapping.names import format_account, unquote
from bridge.plugins import PLUGINS, STORE_PLUGINS, validate_row
from bridge.sqltext import SqlSyntaxError, Token, embedded_opener, statements, tokenize

__all__ = ["Result", "SqlSyntaxError", "import_sql", "to_yaml", "tokenize"]

# MariaDB's and Percona's plugin names for what MySQL and the bridge call otherwise.
PLUGIN_NAMES = {
    "pam": "authentication_pam",
    "auth_pam": "authentication_pam",
    "unix_socket": "auth_socket",
    "gssapi": "authentication_kerberos",
    "auth_pam_compat": "authentication_pam",
}

# What may follow the accounts of a CREATE USER (MySQL 8 and MariaDB): anything else there
# is text the parser does not understand, and is reported rather than dropped.
CREATE_USER_OPTIONS = frozenset(
    ("DEFAULT", "REQUIRE", "WITH", "PASSWORD", "FAILED_LOGIN_ATTEMPTS", "PASSWORD_LOCK_TIME",
     "ACCOUNT", "COMMENT", "ATTRIBUTE")
)  # fmt: skip


# What may follow the accounts of a GRANT: MariaDB's and MySQL 5.7's IDENTIFIED BY, REQUIRE,
# WITH GRANT OPTION / ADMIN OPTION / MAX_..., MySQL 8's AS user WITH ROLE.
GRANT_OPTIONS = frozenset(("IDENTIFIED", "REQUIRE", "WITH", "AS"))
# The words of those options, and the words after which a value (a name, a string, a
# number) comes: a word that is neither is text the parser does not understand.
OPTION_WORDS = frozenset(
    ("DEFAULT", "ROLE", "REQUIRE", "NONE", "SSL", "X509", "CIPHER", "ISSUER", "SUBJECT", "AND",
     "WITH", "MAX_QUERIES_PER_HOUR", "MAX_UPDATES_PER_HOUR", "MAX_CONNECTIONS_PER_HOUR",
     "MAX_USER_CONNECTIONS", "MAX_STATEMENT_TIME", "PASSWORD", "EXPIRE", "NEVER", "INTERVAL",
     "DAY", "HISTORY", "REUSE", "CURRENT", "OPTIONAL", "FAILED_LOGIN_ATTEMPTS",
     "PASSWORD_LOCK_TIME", "UNBOUNDED", "ACCOUNT", "LOCK", "UNLOCK", "COMMENT", "ATTRIBUTE",
     "GRANT", "ADMIN", "OPTION", "IDENTIFIED", "BY", "VIA", "USING", "OR", "AS", "ALL", "EXCEPT")
)  # fmt: skip
TAKES_VALUE = frozenset(
    ("ROLE", "CIPHER", "ISSUER", "SUBJECT", "COMMENT", "ATTRIBUTE", "PASSWORD", "BY", "USING",
     "AS", "VIA", "OR", "WITH", ",", "@", "(")
)  # fmt: skip
SEVERAL_FACTORS = (
    "several authentication factors (IDENTIFIED ... AND IDENTIFIED ...) are not supported"
)


@dataclass
class Result:
    accounts: list[dict[str, str]] = field(default_factory=list)
    grants: dict[str, list[str]] = field(default_factory=dict)
    not_translated: list[str] = field(default_factory=list)  # would lose an account
    skipped: list[str] = field(default_factory=list)  # not about authentication
    grant_lines: dict[tuple[str, str], str] = field(default_factory=dict)  # (proxy, proxied)
    # account -> the statements that change it after CREATE USER ('file:line: ALTER USER')
    changed: dict[str, list[str]] = field(default_factory=dict)
    account_lines: dict[str, str] = field(default_factory=dict)  # account -> its CREATE's

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
        raise SqlSyntaxError("IDENTIFIED must be followed by BY, WITH or VIA")
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
        _alternatives(cur)
        return "several authentication methods (IDENTIFIED VIA ... OR ...) are not supported"
    return plugin, auth


def _alternatives(cur: _Cursor) -> None:
    """Read MariaDB's other methods: `OR plugin [USING|AS 'x' | USING PASSWORD('x')] ...`."""
    while True:
        cur.value()
        if cur.accept("AS") or cur.accept("USING"):
            if cur.accept("PASSWORD", "("):
                cur.value()
                cur.accept(")")
            else:
                cur.take()
        if not cur.accept("OR"):
            return


def _native_or_sha2(plugin: str, password: bytes) -> bytes:
    """The plugin's own stored form of the password (SHA-2 for a plugin that has none)."""
    return to_text(HASHERS.get(plugin, make_sha2)(password)).encode()


def _create_user(cur: _Cursor, where: str, result: Result) -> None:
    cur.accept("IF", "NOT", "EXISTS")
    specs = []
    while True:
        user, host = cur.account()
        outcome = _identified(cur) if cur.accept("IDENTIFIED") else ("mysql_native_password", b"")
        if cur.accept("AND"):  # MySQL 8.0.27+: a second (and third) factor
            _more_factors(cur)
            outcome = SEVERAL_FACTORS
        specs.append((user, host, outcome))
        if not cur.accept(","):
            break
    rest = cur.tokens[cur.pos :]
    if rest and rest[0].upper not in CREATE_USER_OPTIONS:
        raise SqlSyntaxError(f"unexpected {rest[0].text!r} after the account name")
    _options(rest, "after the account name")
    words = [t.upper for t in rest]
    locked = any(words[i : i + 2] == ["ACCOUNT", "LOCK"] for i in range(len(words)))
    for user, host, outcome in specs:
        if locked:
            outcome = "ACCOUNT LOCK: a locked account is not imported"
        _store(result, where, user, host, outcome)


def _more_factors(cur: _Cursor) -> None:
    """Read the second and third factors (`AND IDENTIFIED WITH plugin [BY|AS ...]`)."""
    while True:
        if not cur.accept("IDENTIFIED"):
            raise SqlSyntaxError("AND must be followed by IDENTIFIED")
        _identified(cur)
        if not cur.accept("AND"):
            return


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
    result.account_lines[name] = where
    printable = auth.isascii() and auth.decode("ascii").isprintable()
    text = auth.decode("ascii") if printable else "0x" + auth.hex().upper()
    result.accounts.append(
        {"user": user, "host": host, "plugin": plugin, "authentication_string": text}
    )


def _grant(cur: _Cursor, where: str, result: Result) -> None:
    """GRANT PROXY ON a TO b[, c] [WITH GRANT OPTION]; other GRANTs are skipped."""
    if not cur.accept("PROXY", "ON"):
        _privileges(cur)
        _upstream(cur, where, result)
        return
    proxied = format_account(*cur.account())
    if not cur.accept("TO"):
        raise SqlSyntaxError("GRANT PROXY ON ... needs TO")
    proxies = [format_account(*cur.account())]
    while cur.accept(","):
        proxies.append(format_account(*cur.account()))
    cur.accept("WITH", "GRANT", "OPTION")
    if cur.peek() is not None:
        raise SqlSyntaxError(f"unexpected {cur.take().text!r} after GRANT PROXY ... TO")
    for proxy in proxies:
        proxied_by = result.grants.setdefault(proxy, [])
        if proxied not in proxied_by:  # SHOW GRANTS of a dump and a hand-written line
            proxied_by.append(proxied)
            result.grant_lines[(proxy, proxied)] = where


def _privileges(cur: _Cursor) -> None:
    """Read `GRANT privileges|roles [ON what] TO a[, b] [options]` to the end, so that text
    after it that is not a GRANT's is reported."""
    ends = [i for i, t in enumerate(cur.tokens) if i >= cur.pos and t.upper == "TO"]
    if not ends:
        raise SqlSyntaxError("GRANT ... needs TO")
    cur.pos = ends[0] + 1
    cur.account()
    while cur.accept(","):
        cur.account()
    after = cur.tokens[cur.pos :]
    if after and after[0].upper not in GRANT_OPTIONS:
        raise SqlSyntaxError(f"unexpected {after[0].text!r} after GRANT ... TO")
    _options(after, "after GRANT ... TO")


def _options(tokens: list[Token], where: str) -> None:
    """Raise on the first token that is neither an option's word nor a value after one."""
    previous = ""
    for token in tokens:
        known = token.upper in OPTION_WORDS or token.text in ",@()"
        number = token.kind == "word" and token.text.replace(".", "").isdigit()
        if not (known or number or previous in TAKES_VALUE):
            raise SqlSyntaxError(f"unexpected {token.text!r} {where}")
        previous = token.upper or token.text


def _upstream(_cur: _Cursor, where: str, result: Result) -> None:
    result.skipped.append(f"{where}: privileges stay on the upstream server")


def _accounts_then_options(cur: _Cursor, where: str) -> None:
    """`a[, b]` and then nothing but options (`WITH ADMIN ...`)."""
    cur.account()
    while cur.accept(","):
        cur.account()
    _options(cur.tokens[cur.pos :], where)


def _default_role(cur: _Cursor, where: str, result: Result) -> None:
    """SET DEFAULT ROLE roles FOR a (MariaDB) or TO a[, b] (MySQL 8)."""
    ends = [i for i, t in enumerate(cur.tokens) if i >= cur.pos and t.upper in ("FOR", "TO")]
    if ends:
        cur.pos = ends[0] + 1
        _accounts_then_options(cur, "after SET DEFAULT ROLE ... FOR")
    _upstream(cur, where, result)


def _role(cur: _Cursor, where: str, result: Result) -> None:
    cur.accept("IF", "NOT", "EXISTS")
    _accounts_then_options(cur, "after CREATE ROLE")
    result.skipped.append(
        f"{where}: a role is not an account: it and its privileges stay on the upstream server"
    )


CHANGED = (
    "changed afterwards ({changes}): not imported, since its password or state would be "
    "what CREATE USER said, not the server's (import SHOW CREATE USER as it is now)"
)


def _to_line(statement: list[Token]) -> str:
    """' (to line N)' for a statement that spans lines, else ''."""
    last = statement[-1].line
    return f" (to line {last})" if last > statement[0].line else ""


def _change(cur: _Cursor, where: str) -> str:
    """'file:line: ALTER USER (to line N)': a statement that changes accounts."""
    return f"{where}: {' '.join(t.upper for t in cur.tokens[:2])}{_to_line(cur.tokens)}"


def _account_change(cur: _Cursor, where: str, result: Result) -> None:
    """ALTER USER, DROP USER, RENAME USER: every account they name (the first name of each
    comma-separated part, and after RENAME's TO) is changed after its CREATE USER."""
    change = _change(cur, where)
    cur.accept("IF", "EXISTS")
    names = [format_account(*cur.account())]
    depth = 0
    while (token := cur.peek()) is not None:
        cur.pos += 1
        depth += (token.text == "(") - (token.text == ")")
        if depth == 0 and (token.text == "," or token.upper == "TO") and cur.peek() is not None:
            try:
                names.append(format_account(*cur.account()))
            except SqlSyntaxError:  # not a name (a role list's NONE ...): nothing to record
                continue
    for name in dict.fromkeys(names):
        result.changed.setdefault(name, []).append(change)


def _set_password(cur: _Cursor, where: str, result: Result) -> None:
    change = _change(cur, where)
    if not cur.accept("FOR"):
        raise SqlSyntaxError("SET PASSWORD without FOR changes the password of whoever runs it")
    result.changed.setdefault(format_account(*cur.account()), []).append(change)


Handler = Callable[[_Cursor, str, Result], None]
HANDLERS: dict[tuple[str, ...], Handler] = {
    ("CREATE", "USER"): _create_user,
    ("CREATE", "OR", "REPLACE", "USER"): _create_user,
    ("GRANT",): _grant,
    ("CREATE", "ROLE"): _role,
    ("CREATE", "OR", "REPLACE", "ROLE"): _role,
    ("SET", "DEFAULT", "ROLE"): _default_role,
    ("ALTER", "USER"): _account_change,
    ("DROP", "USER"): _account_change,
    ("RENAME", "USER"): _account_change,
    ("SET", "PASSWORD"): _set_password,
}


def _statement(statement: list[Token], where: str, result: Result) -> None:
    words = " ".join(t.text for t in statement[:3])
    inside = embedded_opener(statement)
    if inside is not None:
        raise SqlSyntaxError(
            f"'{inside.text} ...' inside the statement '{words} ...' (a missing ';'?)"
        )
    cur = _Cursor(statement)
    for opener, handler in HANDLERS.items():
        if cur.accept(*opener):
            handler(cur, where, result)
            return
    result.skipped.append(
        f"{where}: '{words} ...'{_to_line(statement)} is not CREATE USER or GRANT PROXY"
    )


def import_sql(sql: str, source: str = "-") -> Result:
    """Every statement of the text: translated, skipped (not about logging in) or reported
    as not translated, each with its file:line."""
    result = Result()
    for statement in statements(tokenize(sql)):
        where = f"{source}:{statement[0].line}"
        try:
            _statement(statement, where, result)
        except SqlSyntaxError as exc:
            result.not_translated.append(f"{where}: cannot parse: {exc}")
    _drop_changed_accounts(result)
    _drop_orphan_grants(result)
    return result


def _drop_changed_accounts(result: Result) -> None:
    """An account a later statement changes (a password set by ALTER USER after a bare
    CREATE USER, a lock, a rename) would be imported as it was first created: it is left
    out and reported at its CREATE USER; each changing statement gets a skipped line."""
    kept = []
    for account in result.accounts:
        name = format_account(account["user"], account["host"])
        if name not in result.changed:
            kept.append(account)
            continue
        said = CHANGED.format(changes=", ".join(result.changed[name]))
        result.not_translated.append(f"{result.account_lines[name]}: {name}: {said}")
    result.accounts = kept
    by_statement: dict[str, list[str]] = {}
    for name, statements_of in result.changed.items():
        for change in statements_of:
            by_statement.setdefault(change, []).append(name)
    for change, names in by_statement.items():
        result.skipped.append(
            f"{change} {', '.join(names)}: nothing to import (an account of this file that it "
            "changes is left out, as reported)"
        )


def _drop_orphan_grants(result: Result) -> None:
    """A PROXY grant to an account that was not imported cannot be loaded: report it."""
    imported = {format_account(a["user"], a["host"]) for a in result.accounts}
    for proxy in [p for p in result.grants if p not in imported]:
        for proxied in result.grants.pop(proxy):
            where = result.grant_lines[(proxy, proxied)]
            result.not_translated.append(
                f"{where}: GRANT PROXY ON {proxied} TO {proxy}: {proxy} was not imported"
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
