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
from bridge.sqlclauses import CREATE_USER_OPTIONS, GRANT_OPTIONS, ROLE_OPTIONS, read_options
from bridge.sqltext import Cursor, SqlSyntaxError, Token, embedded_opener, statements, tokenize

__all__ = ["Result", "SqlSyntaxError", "import_sql", "to_yaml", "tokenize"]

# MariaDB's and Percona's plugin names for what MySQL and the bridge call otherwise.
PLUGIN_NAMES = {
    "pam": "authentication_pam",
    "auth_pam": "authentication_pam",
    "unix_socket": "auth_socket",
    "gssapi": "authentication_kerberos",
    "auth_pam_compat": "authentication_pam",
}

RANDOM = (
    "IDENTIFIED BY RANDOM PASSWORD: the server made the password and printed it once; "
    "it is not in this text"
)
SEVERAL_FACTORS = (
    "several authentication factors (IDENTIFIED ... AND IDENTIFIED ...) are not supported"
)


EXPIRED = (
    "PASSWORD EXPIRE: the password has expired on the server, which lets the account do "
    "nothing until it sets a new one; imported, the old password would log in as before "
    "(set a new password on the server and import SHOW CREATE USER again)"
)


# (plugin, authentication_string), or the reason the account cannot be imported
Outcome = tuple[str, bytes] | str
# REQUIRE options that ask the client for a certificate, which the bridge does not check
CERTIFICATE_OPTIONS = frozenset({"X509", "ISSUER", "SUBJECT"})


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
    # account -> what its CREATE USER said; (file:line, account, what) of GRANT ... IDENTIFIED
    created: dict[str, Outcome] = field(default_factory=dict)
    identified_by_grant: list[tuple[str, str, Outcome]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"accounts": self.accounts}
        if self.grants:
            doc["proxy_grants"] = [{"proxy": p, "proxied": t} for p, t in self.grants.items()]
        return doc


def _auth_string(token: Token) -> bytes:
    """A stored hash or key after AS / USING / BY PASSWORD: a quoted string or 0x... hex."""
    if token.kind not in ("string", "hex"):
        raise SqlSyntaxError(f"expected a quoted string or 0x..., got {token.text!r}")
    if token.kind == "hex":
        text = token.text
        return bytes.fromhex(text[2:] if text.startswith("0x") else text[2:-1])
    return unquote(token.text).encode("utf-8")


def _identified(cur: Cursor) -> Outcome:
    """(plugin, authentication_string) after IDENTIFIED, or the reason it can't be used."""
    if cur.accept("BY", "RANDOM", "PASSWORD"):
        return RANDOM
    if cur.accept("BY", "PASSWORD"):  # MySQL 5.x / MariaDB: a native hash
        return "mysql_native_password", _auth_string(cur.take())
    if cur.accept("BY"):  # a password in clear: hash it (SHA-2, MySQL 8's default)
        password = cur.string("IDENTIFIED BY", secret=True).encode()
        return "caching_sha2_password", to_text(make_sha2(password)).encode()
    if not (cur.accept("WITH") or cur.accept("VIA")):
        raise SqlSyntaxError("IDENTIFIED must be followed by BY, WITH or VIA")
    plugin = cur.value().lower()
    plugin = PLUGIN_NAMES.get(plugin, plugin)
    if cur.accept("AS") or cur.accept("USING"):
        if cur.accept("PASSWORD", "("):  # MariaDB: USING PASSWORD('x')
            password = _password_call(cur)
            return plugin, _native_or_sha2(plugin, password)
        auth = _auth_string(cur.take())
    elif cur.accept("BY", "RANDOM", "PASSWORD"):
        return RANDOM
    elif cur.accept("BY"):
        # A password for the built-in plugins; for external ones (LDAP's DN, Kerberos' realm)
        # MySQL takes BY as the authentication string itself.
        value = cur.string(f"IDENTIFIED WITH {plugin} BY", secret=True).encode()
        return plugin, _native_or_sha2(plugin, value) if plugin in STORE_PLUGINS else value
    else:
        auth = b""
    if cur.accept("OR"):
        _alternatives(cur)
        return "several authentication methods (IDENTIFIED VIA ... OR ...) are not supported"
    return plugin, auth


def _password_call(cur: Cursor) -> bytes:
    """The 'x' and ')' of MariaDB's PASSWORD('x')."""
    password = cur.string("PASSWORD(", secret=True).encode()
    cur.one_of((")",), "PASSWORD('...'")
    return password


def _alternatives(cur: Cursor) -> None:
    """Read MariaDB's other methods: `OR plugin [USING|AS 'x' | USING PASSWORD('x')] ...`."""
    while True:
        cur.value()
        if cur.accept("AS") or cur.accept("USING"):
            if cur.accept("PASSWORD", "("):
                _password_call(cur)
            else:
                _auth_string(cur.take())
        if not cur.accept("OR"):
            return


def _native_or_sha2(plugin: str, password: bytes) -> bytes:
    """The plugin's own stored form of the password (SHA-2 for a plugin that has none)."""
    return to_text(HASHERS.get(plugin, make_sha2)(password)).encode()


def _create_user(cur: Cursor, where: str, result: Result) -> None:
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
    options = cur.pos
    read_options(cur, CREATE_USER_OPTIONS, "after the account name")
    words = [t.upper for t in cur.tokens[options:]]
    refusal = _refusing_option(words)
    notes = _not_carried_over(words)
    for user, host, outcome in specs:
        result.created[format_account(user, host)] = outcome
        if isinstance(outcome, str):
            pass  # its own reason (a random password, several factors) comes first
        elif refusal is not None:
            outcome = refusal
        else:
            result.skipped += [f"{where}: {format_account(user, host)}: {s}" for s in notes]
        _store(result, where, user, host, outcome)


def _not_carried_over(words: list[str]) -> list[str]:
    """What an imported account's options set that the bridge does not do, said once each:
    per-account TLS, and a password lifetime."""
    notes = []
    if "REQUIRE" in words and {"SSL", "CIPHER"}.intersection(words):
        notes.append("REQUIRE SSL is not carried over (the bridge requires TLS of every client "
                     "with server.require_secure_transport)")  # fmt: skip
    expiry = _password_expire(words)
    if expiry not in (None, "", "NEVER", "DEFAULT"):
        notes.append(f"PASSWORD EXPIRE {expiry} is not carried over (the bridge does not expire "
                     "passwords: the password keeps working through it after that)")  # fmt: skip
    return notes


def _password_expire(words: list[str]) -> str | None:
    """What follows PASSWORD EXPIRE: '' for the bare clause (the password has expired; it
    wins over a policy in the same statement, as the safer reading), else the last of NEVER,
    DEFAULT or 'INTERVAL n DAY' (a policy); None without the clause."""
    found = []
    for i in range(len(words) - 1):
        if words[i : i + 2] == ["PASSWORD", "EXPIRE"]:
            following = words[i + 2 : i + 3]
            if following == ["INTERVAL"]:
                found.append(" ".join(words[i + 2 : i + 5]))
            else:
                found.append(following[0] if following in (["NEVER"], ["DEFAULT"]) else "")
    return "" if "" in found else (found[-1] if found else None)


def _refusing_option(words: list[str]) -> str | None:
    """Why an option keeps the account out: imported, it would log in with less than it
    needed on the server (a locked account, a client certificate)."""
    if any(words[i : i + 2] == ["ACCOUNT", "LOCK"] for i in range(len(words))):
        return "ACCOUNT LOCK: a locked account is not imported"
    if "REQUIRE" in words and (needs := CERTIFICATE_OPTIONS.intersection(words)):
        return (
            f"REQUIRE {' '.join(sorted(needs))}: the bridge checks no client certificate; "
            "imported, the account would log in with its password alone"
        )
    if _password_expire(words) == "":
        return EXPIRED
    return None


def _more_factors(cur: Cursor) -> None:
    """Read the second and third factors (`AND IDENTIFIED WITH plugin [BY|AS ...]`)."""
    while True:
        if not cur.accept("IDENTIFIED"):
            raise SqlSyntaxError("AND must be followed by IDENTIFIED")
        _identified(cur)
        if not cur.accept("AND"):
            return


def _store(result: Result, where: str, user: str, host: str, outcome: Outcome) -> None:
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


def _grant(cur: Cursor, where: str, result: Result) -> None:
    """GRANT PROXY ON a TO b[, c] [WITH GRANT OPTION]; other GRANTs are skipped."""
    if not cur.accept("PROXY", "ON"):
        for name, outcome in _privileges(cur):
            result.identified_by_grant.append((where, name, outcome))
        _upstream(cur, where, result)
        return
    proxied_user, proxied_host = cur.account()
    proxied = format_account(proxied_user, proxied_host)
    if not cur.accept("TO"):
        raise SqlSyntaxError("GRANT PROXY ON ... needs TO")
    proxies = [format_account(*cur.account())]
    while cur.accept(","):
        proxies.append(format_account(*cur.account()))
    grant_option = cur.accept("WITH", "GRANT", "OPTION")
    read_options(cur, {}, "after GRANT PROXY ... TO")
    if proxied_user == "":
        result.skipped.append(_anonymous_grant(where, proxied, proxies, grant_option))
        return
    for proxy in proxies:
        proxied_by = result.grants.setdefault(proxy, [])
        if proxied not in proxied_by:  # SHOW GRANTS of a dump and a hand-written line
            proxied_by.append(proxied)
            result.grant_lines[(proxy, proxied)] = where


def _anonymous_grant(where: str, proxied: str, proxies: list[str], grant_option: bool) -> str:
    """GRANT PROXY ON ''@... : the anonymous account is never a proxied account (MySQL's
    check_proxy_users passes over it; bridge/mapping/proxy.py does too). WITH GRANT OPTION
    is the install's default for root: it lets root grant PROXY on any account."""
    what = f"GRANT PROXY ON {proxied} TO {', '.join(proxies)}"
    if grant_option:
        return (
            f"{where}: {what} WITH GRANT OPTION: lets the grantee grant PROXY to others (the "
            "server's install default for root); nobody becomes the anonymous account, and "
            "granting stays on the upstream server"
        )
    return f"{where}: {what}: the anonymous account is never a proxied account (as in MySQL)"


def _privileges(cur: Cursor) -> list[tuple[str, Outcome]]:
    """Read `GRANT privileges|roles [ON what] TO a [IDENTIFIED ...][, b ...] [options]` to
    the end, so that text after it that is not a GRANT's is reported; the accounts whose
    password it sets (MariaDB, MySQL 5.7: SHOW GRANTS prints IDENTIFIED BY PASSWORD)."""
    ends = [i for i, t in enumerate(cur.tokens) if i >= cur.pos and t.upper == "TO"]
    if not ends:
        raise SqlSyntaxError("GRANT ... needs TO")
    cur.pos = ends[0] + 1
    identified = []
    while True:
        if not _current_user(cur):
            name = format_account(*cur.account())
            if cur.accept("IDENTIFIED"):
                identified.append((name, _identified(cur)))
        if not cur.accept(","):
            break
    read_options(cur, GRANT_OPTIONS, "after GRANT ... TO")
    return identified


def _current_user(cur: Cursor) -> bool:
    """`CURRENT_USER` or `CURRENT_USER()` as a grantee, as both servers' grammar allows:
    `mariadb-dump --system=users` grants its helper role with `GRANT
    mariadb_dump_import_role TO CURRENT_USER()`. It names whoever runs the file, no account
    of the dump. (A quoted `'CURRENT_USER'` is a user of that name, read as an account.)"""
    if not cur.accept("CURRENT_USER"):
        return False
    cur.accept("(", ")")
    return True


def _upstream(_cur: Cursor, where: str, result: Result) -> None:
    result.skipped.append(f"{where}: privileges stay on the upstream server")


def _default_role(cur: Cursor, where: str, result: Result) -> None:
    """SET DEFAULT ROLE {NONE | ALL | role[, role]} [FOR a] (MariaDB) or TO a[, b] (MySQL 8)."""
    cur.accounts()
    if cur.accept("FOR") or cur.accept("TO"):
        cur.accounts()
    read_options(cur, {}, "after SET DEFAULT ROLE")
    _upstream(cur, where, result)


def _role(cur: Cursor, where: str, result: Result) -> None:
    cur.accept("IF", "NOT", "EXISTS")
    cur.accounts()
    read_options(cur, ROLE_OPTIONS, "after CREATE ROLE")
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


def _change(cur: Cursor, where: str) -> str:
    """'file:line: ALTER USER (to line N)': a statement that changes accounts."""
    return f"{where}: {' '.join(t.upper for t in cur.tokens[:2])}{_to_line(cur.tokens)}"


def _account_change(cur: Cursor, where: str, result: Result) -> None:
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


def _set_password(cur: Cursor, where: str, result: Result) -> None:
    change = _change(cur, where)
    if not cur.accept("FOR"):
        raise SqlSyntaxError("SET PASSWORD without FOR changes the password of whoever runs it")
    result.changed.setdefault(format_account(*cur.account()), []).append(change)
    cur.pos = len(cur.tokens)  # the new password: the account is reported as changed


Handler = Callable[[Cursor, str, Result], None]
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
    cur = Cursor(statement)
    for opener, handler in HANDLERS.items():
        if cur.accept(*opener):
            handler(cur, where, result)
            read_options(cur, {}, f"at the end of '{words} ...'")  # every token is read
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
    _passwords_set_by_grants(result)
    _drop_changed_accounts(result)
    _drop_orphan_grants(result)
    return result


NO_CREATE_USER = (
    "GRANT ... IDENTIFIED sets its password, but no CREATE USER for it is in the text: "
    "import what SHOW CREATE USER prints for it (docs/migration.md)"
)


def _passwords_set_by_grants(result: Result) -> None:
    """A GRANT ... IDENTIFIED that says what the account's CREATE USER said (SHOW GRANTS on
    MariaDB repeats the hash) changes nothing; one that says otherwise changes the account
    (reported as an ALTER USER is); one for an account no CREATE USER made is reported."""
    for where, name, outcome in result.identified_by_grant:
        if name not in result.created:
            result.not_translated.append(f"{where}: {name}: {NO_CREATE_USER}")
        elif result.created[name] != outcome:
            result.changed.setdefault(name, []).append(f"{where}: GRANT ... IDENTIFIED")


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
