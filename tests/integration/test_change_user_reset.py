"""A COM_CHANGE_USER the bridge refuses leaves the upstream session as MariaDB leaves its
own after a failed one: on the same account and database, with everything else reset
(user and session variables, temporary tables, prepared statements, named locks, the open
transaction, the character set back to the server's). The same sequence runs directly
against MariaDB and through the bridge, with mysqlclient (`change_user`) and
Connector/Python pure (`cmd_change_user`), and the state each shows must be the same."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    Bridge,
    Endpoint,
    MakeBridge,
    closing,
    connect,
    error_of,
    scalar,
)

pytestmark = pytest.mark.integration
RUNS = itertools.count(1)
STATE = (
    "SELECT CURRENT_USER(), DATABASE(), @v, @@session.sql_mode, @@session.wait_timeout, "
    "@@session.time_zone, @@autocommit, @@in_transaction, @@character_set_client, "
    "@@collation_connection, @@character_set_results, IS_USED_LOCK(%s) IS NULL, "
    "(SELECT COUNT(*) FROM shop.change_resets WHERE run = %s)"
)
Change = Callable[[Any, str, str], None]


def _mysqlclient(conn: Any, user: str, password: str) -> None:
    conn.change_user(user, password)


def _connector(conn: Any, user: str, password: str) -> None:
    conn.cmd_change_user(username=user, password=password)


CHANGES: dict[str, Change] = {"mysqlclient": _mysqlclient, "connector": _connector}


@pytest.fixture(scope="module")
def table(mariadb: MariaDB) -> None:
    mariadb.sql("CREATE TABLE IF NOT EXISTS shop.change_resets (run INT) ENGINE=InnoDB")


def _errno(conn: Any, sql: str) -> int:
    try:
        scalar(conn, sql)
    except Exception as exc:  # each library's own class
        return error_of(exc)[0]
    return 0


def _dirty(conn: Any, run: int) -> None:
    """Session state of every kind a reset ends."""
    for sql in [
        "SET @v = 7, SESSION sql_mode = 'ANSI', SESSION wait_timeout = 77",
        "SET time_zone = '+03:00', autocommit = 0",
        "SET NAMES koi8r",
        "CREATE TEMPORARY TABLE shop.tmp_reset (i INT)",
        "PREPARE stmt FROM 'SELECT 1'",
        f"INSERT INTO shop.change_resets VALUES ({run})",
    ]:
        conn.cursor().execute(sql)
    assert scalar(conn, f"SELECT GET_LOCK('reset{run}', 0)") == 1


def _state(conn: Any, run: int) -> tuple[Any, ...]:
    cur = conn.cursor()
    cur.execute(STATE, (f"reset{run}", run))
    row = tuple(cur.fetchone())
    cur.close()
    kept = (_errno(conn, "SELECT * FROM shop.tmp_reset"), _errno(conn, "EXECUTE stmt"))
    return row + kept


def _refused_sequence(
    client: str, endpoint: Endpoint, password: str, refusals: list[tuple[str, str]]
) -> tuple[list[tuple[int, str]], tuple[Any, ...], tuple[Any, ...]]:
    """Log in as nat, then dirty the session and try a refused change, for each refusal;
    the errors, the state before and after the last, and a query to show the connection
    still serves."""
    run = next(RUNS)
    errors, before = [], ()
    with closing(connect(client, endpoint, "nat", password, "tls", database="shop")) as conn:
        for user, wrong in refusals:
            _dirty(conn, run)  # again before each, so that the last one must reset it too
            before = _state(conn, run)
            with pytest.raises(Exception) as caught:
                CHANGES[client](conn, user, wrong)
            errors.append(error_of(caught.value))
        after = _state(conn, run)
        assert scalar(conn, "SELECT 1 + 1") == 2
    return errors, before, after


def _normal(state: tuple[Any, ...]) -> tuple[Any, ...]:
    """sql_mode comes back as a set from Connector/Python, a string from mysqlclient."""
    mode = state[3]
    return (*state[:3], ",".join(sorted(mode)) if isinstance(mode, set) else mode, *state[4:])


REFUSALS = {
    "wrong password": [("app", "wrong")],
    "unknown user": [("nobody", "wrong")],
    "after three failures, 1047": [("app", "wrong")] * 4,
}


@pytest.mark.parametrize("client", list(CHANGES))
@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_a_refused_change_user_resets_the_session_as_mariadb_does(
    bridge: Bridge, mariadb: MariaDB, table: None, client: str, refusal: str
) -> None:
    refusals = REFUSALS[refusal]
    direct = _refused_sequence(client, mariadb, "up-nat", refusals)  # type: ignore[arg-type]
    bridged = _refused_sequence(client, bridge, "nat-pw", refusals)
    assert bridged[0] == direct[0]  # the same errors, 1047 last where there are four
    before, after = _normal(bridged[1]), _normal(bridged[2])
    assert before[:3] == ("nat@%", "shop", 7) and before[-2:] == (0, 0)
    # What MariaDB keeps: the account and the database; the rest is reset.
    assert after[:3] == ("nat@%", "shop", None)
    assert after[6:8] == (1, 0)  # autocommit back on, the transaction rolled back
    assert after[8:11] == ("latin1", "latin1_swedish_ci", "latin1")  # the server's
    assert after[11:] == (1, 0, 1146, 1243)  # lock released, row gone, temp table, statement
    assert after == _normal(direct[2]) and before == _normal(direct[1])


def test_a_refused_change_user_runs_the_accounts_init_sql_again(make_bridge: MakeBridge) -> None:
    """The reset ends the init_sql's variables too: the bridge sets them again, so the
    session as nat always has them, as after its login."""
    bridge = make_bridge()
    path = bridge.directory / "accounts.yaml"
    accounts = yaml.safe_load(path.read_text())
    for row in accounts["accounts"]:
        if row["user"] == "nat":
            row["init_sql"] = ["SET @external_user = {external_user}"]
    path.write_text(yaml.safe_dump(accounts))
    assert bridge.reload()
    with closing(connect("mysqlclient", bridge, "nat", "nat-pw", "tls")) as conn:
        conn.cursor().execute("SET @external_user = 'forged', @mine = 1")
        with pytest.raises(Exception) as caught:
            conn.change_user("app", "wrong")
        assert error_of(caught.value)[0] == 1045
        assert scalar(conn, "SELECT @external_user = 'nat' AND @mine IS NULL") == 1
        with pytest.raises(Exception) as caught:  # refused upstream: reset there, by MariaDB
            conn.change_user("nat", "nat-pw", "nope")
        assert error_of(caught.value) == (1049, "Unknown database 'nope'")
        assert scalar(conn, "SELECT CURRENT_USER() = 'nat@%' AND @external_user = 'nat'") == 1
