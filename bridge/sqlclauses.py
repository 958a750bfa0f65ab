"""The options that may follow the accounts of CREATE USER, GRANT and CREATE ROLE, as MySQL 8
and MariaDB print them (SHOW CREATE USER, SHOW GRANTS) and take them, for `import-sql`.

Each clause reads its own words and values and nothing else, in the order the servers take
them in, so a word that opens no clause (text after the options, a second list of accounts,
an IDENTIFIED that belongs before them) is reported, never skipped. Tables, by the clause's
first word: the word is taken, then its reader reads the rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bridge.sqltext import Cursor, SqlSyntaxError

Clause = Callable[[Cursor], object]


def read_options(cur: Cursor, clauses: Mapping[str, Clause], after: str) -> None:
    """Clauses in any order to the end of the statement; `after` says where they start
    ('after the account name') for the first word that opens none."""
    while (token := cur.peek()) is not None:
        if token.upper not in clauses:
            hint = ": the accounts come before the options" if token.text == "," else ""
            raise SqlSyntaxError(f"unexpected {token.text!r} {after}{hint}")
        cur.pos += 1
        clauses[token.upper](cur)
        after = f"after the {token.upper} option"


def _items(items: Mapping[str, Clause], head: str) -> Clause:
    """`head item [item ...]`: one or more of the items (WITH MAX_... n GRANT OPTION)."""

    def read(cur: Cursor) -> None:
        while True:
            word = cur.one_of(items, head)
            items[word](cur)
            following = cur.peek()
            if following is None or following.upper not in items:
                return

    return read


def _one(items: Mapping[str, Clause], head: str) -> Clause:
    """`head item`: exactly one of the items (PASSWORD EXPIRE ..., ACCOUNT LOCK)."""
    return lambda cur: items[cur.one_of(items, head)](cur)


def _nothing(_cur: Cursor) -> None:
    return None


def _number(word: str) -> Clause:
    return lambda cur: cur.number(word)


def _string(word: str) -> Clause:
    return lambda cur: cur.string(word)


def _then(word: str, after: str) -> Clause:
    """Exactly this word next (GRANT's OPTION)."""
    return lambda cur: cur.one_of((word,), after)


def _require(cur: Cursor) -> None:
    """REQUIRE NONE | tls_option [[AND] tls_option ...]."""
    if cur.accept("NONE"):
        return
    _items({**TLS_OPTIONS, "AND": _nothing}, "REQUIRE")(cur)


TLS_OPTIONS: dict[str, Clause] = {
    "SSL": _nothing,
    "X509": _nothing,
    "CIPHER": _string("CIPHER"),
    "ISSUER": _string("ISSUER"),
    "SUBJECT": _string("SUBJECT"),
}

# WITH MAX_QUERIES_PER_HOUR 10 ... (MariaDB's MAX_STATEMENT_TIME takes seconds: 1.5)
RESOURCES: dict[str, Clause] = {
    word: _number(word)
    for word in ("MAX_QUERIES_PER_HOUR", "MAX_UPDATES_PER_HOUR", "MAX_CONNECTIONS_PER_HOUR",
                 "MAX_USER_CONNECTIONS", "MAX_STATEMENT_TIME")
}  # fmt: skip


def _default_or(then: Clause) -> Clause:
    """DEFAULT, or what `then` reads."""
    return lambda cur: cur.accept("DEFAULT") or then(cur)


def _expire(cur: Cursor) -> None:
    """PASSWORD EXPIRE [DEFAULT | NEVER | INTERVAL n DAY]."""
    if cur.accept("INTERVAL"):
        cur.number("INTERVAL")
        cur.one_of(("DAY",), "INTERVAL n")
    elif not cur.accept("DEFAULT"):
        cur.accept("NEVER")


def _reuse(cur: Cursor) -> None:
    """PASSWORD REUSE INTERVAL {DEFAULT | n DAY}."""
    cur.one_of(("INTERVAL",), "REUSE")
    if not cur.accept("DEFAULT"):
        cur.number("INTERVAL")
        cur.one_of(("DAY",), "INTERVAL n")


def _require_current(cur: Cursor) -> None:
    """PASSWORD REQUIRE CURRENT [DEFAULT | OPTIONAL]."""
    cur.one_of(("CURRENT",), "PASSWORD REQUIRE")
    if not cur.accept("DEFAULT"):
        cur.accept("OPTIONAL")


PASSWORD_OPTIONS: dict[str, Clause] = {
    "EXPIRE": _expire,
    "HISTORY": _default_or(_number("PASSWORD HISTORY")),
    "REUSE": _reuse,
    "REQUIRE": _require_current,
}


def _role_list(cur: Cursor) -> None:
    """DEFAULT ROLE a[, b ...] (MySQL 8's CREATE USER)."""
    cur.one_of(("ROLE",), "DEFAULT")
    cur.accounts()


CREATE_USER_OPTIONS: dict[str, Clause] = {
    "DEFAULT": _role_list,
    "REQUIRE": _require,
    "WITH": _items(RESOURCES, "WITH"),
    "PASSWORD": _one(PASSWORD_OPTIONS, "PASSWORD"),
    "FAILED_LOGIN_ATTEMPTS": _number("FAILED_LOGIN_ATTEMPTS"),
    "PASSWORD_LOCK_TIME": lambda cur: cur.accept("UNBOUNDED") or cur.number("PASSWORD_LOCK_TIME"),
    "ACCOUNT": _one({"LOCK": _nothing, "UNLOCK": _nothing}, "ACCOUNT"),
    "COMMENT": _string("COMMENT"),
    "ATTRIBUTE": _string("ATTRIBUTE"),
}


def _as_user(cur: Cursor) -> None:
    """MySQL 8: AS user [WITH ROLE DEFAULT | NONE | ALL [EXCEPT r, ...] | r, ...]."""
    cur.account()
    if not cur.accept("WITH", "ROLE"):
        return
    if cur.accept("DEFAULT") or cur.accept("NONE"):
        return
    if cur.accept("ALL"):
        if cur.accept("EXCEPT"):
            cur.accounts()
        return
    cur.accounts()


# After GRANT ... TO a[, b]: MariaDB's and MySQL 5.7's REQUIRE and WITH GRANT OPTION /
# resources, MySQL 8's WITH GRANT OPTION, WITH ADMIN OPTION (roles) and AS user.
GRANT_OPTIONS: dict[str, Clause] = {
    "REQUIRE": _require,
    "WITH": _items(
        {**RESOURCES, "GRANT": _then("OPTION", "GRANT"), "ADMIN": _then("OPTION", "ADMIN")}, "WITH"
    ),
    "AS": _as_user,
}


def _with_admin(cur: Cursor) -> None:
    """MariaDB: CREATE ROLE r WITH ADMIN {CURRENT_USER | CURRENT_ROLE | user | role}."""
    cur.one_of(("ADMIN",), "WITH")
    cur.account()


ROLE_OPTIONS: dict[str, Clause] = {"WITH": _with_admin}
