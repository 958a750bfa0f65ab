r"""Host patterns with a backslash, through a real bridge and against MariaDB itself: the
same accounts (the same host text in mysql.user and in the accounts file), the same PyMySQL
login from 127.0.0.1, the same answer. '\x' is a literal x in mysqld's wildcard compare;
the bridge used to keep the backslash, so '127.0.\0.%' and '127.0.0.\1' matched nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    Account,
    Bridge,
    Endpoint,
    closing,
    connect,
    error_of,
    scalar,
    start_bridge,
)

pytestmark = pytest.mark.integration

PLUGIN = "mysql_native_password"
# (user, host as stored, does a client from 127.0.0.1 match it): measured on MariaDB 10.11
CASES = [
    ("hesc_a", r"127.0.\0.%", True),
    ("hesc_b", r"127.0.0.\1", True),
    ("hesc_c", r"127.0.0.\_", False),
    ("hesc_d", r"127.0.\%", False),
    ("hesc_e", "127.0.0.1\\", False),
    ("hesc_f", r"local\host", True),
    ("hesc_g", "127.0.0.1%\\", False),
]
# One user, two rows that both match 127.0.0.1, each with its own password: which one a
# login meets shows which row comes first (the escaped one: its '%' is further in the text).
ORDER = [("hesc_o", "127.0.0.%", "o-plain-pw"), ("hesc_o", r"127.0.\0.%", "o-escaped-pw")]

# One rank, two rows each (the first one listed first in the accounts file): MariaDB takes
# the row whose host text is greater (its -strcmp tie-break), whatever the order of rows.
TIES = {
    "hesc_t": [("127.0.0.1", "t-plain-pw"), (r"127.0.0.\1", "t-escaped-pw")],
    "hesc_l": [(r"local\host", "l-escaped-pw"), ("localhost", "l-plain-pw")],
}
TAKEN = {"hesc_t": (r"127.0.0.\1", "t-escaped-pw"), "hesc_l": ("localhost", "l-plain-pw")}


def sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\") + "'"


@dataclass(frozen=True)
class Direct:
    port: int
    socket: Path
    certs: CertSet


@pytest.fixture(scope="module")
def direct(mariadb: MariaDB, certs: CertSet) -> Direct:
    rows = [(user, host, f"{user}-pw") for user, host, _ in CASES] + ORDER
    rows += [(user, host, pw) for user, pairs in TIES.items() for host, pw in pairs]
    for user, host, password in rows:
        account = f"'{user}'@{sql_string(host)}"
        mariadb.sql(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{password}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO {account}")
    stored = mariadb.sql("SELECT host FROM mysql.user WHERE user LIKE 'hesc%' ORDER BY user")
    assert r"127.0.\0.%" in stored.replace("\\\\", "\\")  # the backslash is in mysql.user
    return Direct(mariadb.port, mariadb.socket, certs)


@pytest.fixture(scope="module")
def escapes_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet, direct: Direct
) -> Iterator[Bridge]:
    # The same password in the bridge's row as upstream: the bridge logs in upstream from
    # 127.0.0.1 too, and meets the same row there.
    accounts = [Account(u, f"{u}-pw", PLUGIN, h, f"{u}-pw") for u, h, _ in CASES]
    accounts += [Account(u, pw, PLUGIN, h, ORDER[1][2]) for u, h, pw in ORDER]
    accounts += [Account(u, pw, PLUGIN, h, TAKEN[u][1]) for u in TIES for h, pw in TIES[u]]
    running = start_bridge(tmp_path_factory.mktemp("host-escapes"), mariadb, certs, accounts)
    yield running
    running.stop()


def login(endpoint: Endpoint, user: str, password: str) -> str | tuple[int, str]:
    """CURRENT_USER() of a PyMySQL login over TCP from 127.0.0.1, or (errno, message)."""
    try:
        with closing(connect("pymysql", endpoint, user, password, "tcp")) as conn:
            return str(scalar(conn, "SELECT CURRENT_USER()"))
    except Exception as exc:  # the client's error is the answer
        return error_of(exc)


@pytest.mark.parametrize(("user", "host", "matches"), CASES)
def test_a_backslash_host_matches_as_in_mariadb(
    direct: Direct, escapes_bridge: Bridge, user: str, host: str, matches: bool
) -> None:
    answers = [login(endpoint, user, f"{user}-pw") for endpoint in (direct, escapes_bridge)]
    assert answers[0] == answers[1]
    if matches:
        assert answers[0] == f"{user}@{host}"
    else:
        assert answers[0] == (
            1045,
            f"Access denied for user '{user}'@'localhost' (using password: YES)",
        )


@pytest.mark.parametrize(("password", "logs_in"), [("o-escaped-pw", True), ("o-plain-pw", False)])
def test_the_row_with_the_later_wildcard_comes_first_as_in_mariadb(
    direct: Direct, escapes_bridge: Bridge, password: str, logs_in: bool
) -> None:
    answers = [login(endpoint, "hesc_o", password) for endpoint in (direct, escapes_bridge)]
    assert answers[0] == answers[1]
    assert (answers[0] == r"hesc_o@127.0.\0.%") is logs_in


@pytest.mark.parametrize("user", sorted(TIES))
def test_rows_of_one_rank_are_taken_as_in_mariadb_not_by_file_order(
    direct: Direct, escapes_bridge: Bridge, user: str
) -> None:
    host, password = TAKEN[user]
    for _, tried in TIES[user]:
        answers = [login(endpoint, user, tried) for endpoint in (direct, escapes_bridge)]
        assert answers[0] == answers[1]
        assert (answers[0] == f"{user}@{host}") is (tried == password)
