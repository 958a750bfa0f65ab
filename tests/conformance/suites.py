"""The suites the gate runs: which pinned sdist, which of its tests, and what they expect of the
server (accounts, databases, a config file or environment variables). Nothing here is copied from
a suite: each entry only says how to point it at the server under test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sandbox.bridgeproc import Account


@dataclass(frozen=True)
class Target:
    """Where a leg sends the suite: MariaDB itself, or a bridge in front of it."""

    leg: str  # "direct", "bridge" (caching_sha2 greeting), "bridge-native"
    host: str
    port: int
    socket: Path
    ca: Path


@dataclass(frozen=True)
class Invocation:
    """How to run one suite against one target: pytest arguments, environment, work dir."""

    args: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    junit: bool = True  # pytest writes a junit report; else the verbose unittest output is read


Prepare = Callable[[Path, Target, Path], Invocation]  # (unpacked sdist, target, scratch dir)


@dataclass(frozen=True)
class Suite:
    name: str
    requirement: str  # the pinned sdist, as pip takes it
    accounts: tuple[Account, ...]  # created upstream and in the bridges' store
    databases: tuple[str, ...]  # made afresh before each leg
    prepare: Prepare
    legs: tuple[str, ...] = ("direct", "bridge", "bridge-native")
    # MariaDB cannot run some suites (MySQL 8 methods): then every test must pass through the
    # bridge, and the direct leg is not run.
    bridge_must_pass: bool = False
    grants: tuple[str, ...] = ()  # given upstream to each of the suite's accounts
    helpers: tuple[str, ...] = ("pytest==9.2.0",)  # what its tests import besides the library


def _pytest(*paths: str) -> tuple[str, ...]:
    return ("-m", "pytest", *paths, "-p", "no:cacheprovider", "-q", "-o", "addopts=")


# --- mysqlclient: its whole suite, configured by an option file named in $TESTDB -------------

MYSQLDB = Account(
    "mysqldb", "mysqldb-pw-1", "caching_sha2_password", upstream_password="mysqldb-pw-1"
)


def _mysqlclient(root: Path, target: Target, scratch: Path) -> Invocation:
    cnf = scratch / "mysqlclient.cnf"
    cnf.write_text(
        "[MySQLdb-tests]\n"
        f"host = {target.host}\nport = {target.port}\n"
        f"user = {MYSQLDB.user}\npassword = {MYSQLDB.password}\n"
        "database = mysqldb_test\ndefault-character-set = utf8mb4\n"
        f"ssl-ca = {target.ca}\n"
    )
    return Invocation(_pytest("tests"), {"TESTDB": str(cnf)}, root)


# --- PyMySQL: tests/test_auth.py (the only test file its sdist ships), MySQL 8 methods --------

PYMYSQL_ACCOUNTS = (
    Account("user_sha256", "pass_sha256_01234567890123456789", "sha256_password",
            upstream_password="up-user-sha256"),
    Account("nopass_sha256", "", "sha256_password", upstream_password="up-nopass-sha256"),
    Account("user_caching_sha2", "pass_caching_sha2_01234567890123456789",
            "caching_sha2_password", upstream_password="up-user-caching-sha2"),
    Account("nopass_caching_sha2", "", "caching_sha2_password",
            upstream_password="up-nopass-caching-sha2"),
)  # fmt: skip


def _pymysql(root: Path, target: Target, scratch: Path) -> Invocation:
    home = scratch / "home"  # the suite reads its CA from ~/ca.pem
    home.mkdir(exist_ok=True)
    shutil.copy(target.ca, home / "ca.pem")
    env = {"HOME": str(home), "CONFORMANCE_HOST": target.host,
           "CONFORMANCE_PORT": str(target.port)}  # fmt: skip
    # the suite hard-codes 127.0.0.1:3306: the retarget plugin points it at the target
    return Invocation(_pytest("tests/test_auth.py", "-p", "retarget"), env, root)


# --- MariaDB Connector/Python: testing/test, configured by TEST_DB_* variables ---------------

MARIADBPY = Account("mariadbpy", "mariadbpy-pw-1", "mysql_native_password",
                    upstream_password="mariadbpy-pw-1")  # fmt: skip


def _mariadb(root: Path, target: Target, scratch: Path) -> Invocation:
    # Left out: test_conn_timeout_exception connects to a public address (8.8.8.8), and
    # test_multi_host resolves a made-up host name (34 s of resolver timeouts): no traffic
    # beyond loopback, ever.
    env = {"TEST_DB_USER": MARIADBPY.user, "TEST_DB_PASSWORD": MARIADBPY.password,
           "TEST_DB_HOST": target.host, "TEST_DB_PORT": str(target.port),
           "TEST_DB_DATABASE": "testp", "TEST_REQUIRE_TLS": "1"}  # fmt: skip
    args = (*_pytest("test"), "-k", "not test_conn_timeout_exception and not test_multi_host")
    return Invocation(args, env, root / "testing")


# --- aiomysql: its suite as root, over the Unix socket ----------------------------------------
# Over TCP its fixture insists on TLS verified by the CA shipped in its sdist; the socket leg
# needs no certificate of theirs, and exercises the bridge's Unix listener.

AIOMYSQL_ROOT = Account("root", "aiomysql-root-pw", "caching_sha2_password",
                        upstream_password="aiomysql-root-pw")  # fmt: skip


def _aiomysql(root: Path, target: Target, scratch: Path) -> Invocation:
    # tests/sa needs SQLAlchemy 1.3 (installed); -k: asyncio's loop only, not uvloop as well,
    # which would run every test twice
    args = (*_pytest("tests", f"--mysql-unix-socket=server={target.socket}"), "-k", "not uvloop")
    env = {"MYSQL_ROOT_PASSWORD": AIOMYSQL_ROOT.password}
    return Invocation(args, env, root)


# --- MySQL Connector/Python: its own runner (unittests.py) against an external server -------
# The classic-protocol groups; the others need MySQL's X Protocol, MySQL-only features, or
# libraries for AI and OpenTelemetry. Tests that would reach Oracle's LDAP/Kerberos hosts skip
# on a GPL server before they try (and the namespace has only loopback anyway).

MYCONNPY = Account("myconnpy", "myconnpy-pw-1", "caching_sha2_password",
                   upstream_password="myconnpy-pw-1")  # fmt: skip
CONNECTOR_GROUPS = ("connection", "cursor", "pep249", "mysql_datatypes", "pooling", "protocol",
                    "conversion", "qa_caching_sha2_password", "qa_connection_api")  # fmt: skip


def _connector(root: Path, target: Target, scratch: Path) -> Invocation:
    args = ("unittests.py", "--use-external-server", "--skip-install", "--verbosity", "2",
            "--host", target.host, "--port", str(target.port), "--user", MYCONNPY.user,
            "--password", MYCONNPY.password, "-r", f"^({'|'.join(CONNECTOR_GROUPS)})$")  # fmt: skip
    return Invocation(args, {}, root, junit=False)


# The greeting only decides the login exchange: mysqlclient (a login per test) and PyMySQL's
# authentication tests run under both; the longer suites under the caching_sha2 greeting only.
ONE_GREETING = ("direct", "bridge")

SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        Suite(
            "mysqlclient", "mysqlclient==2.3.2", (MYSQLDB,),
            ("mysqldb_test",),
            _mysqlclient, grants=("ALL PRIVILEGES ON *.*",),
            helpers=("pytest==9.2.0", "SQLAlchemy==2.1.9"),
        ),
        # tests/test_auth.py only: the sdist ships no other test. MariaDB has neither
        # sha256_password nor caching_sha2_password, so there is no direct leg.
        Suite(
            "PyMySQL", "PyMySQL==1.2.4", PYMYSQL_ACCOUNTS, (), _pymysql,
            legs=("bridge", "bridge-native"), bridge_must_pass=True, grants=("RELOAD ON *.*",),
            helpers=("pytest==9.2.0", "cryptography==50.0.2"),
        ),
        Suite(
            "mariadb", "mariadb==1.1.14", (MARIADBPY,),
            ("testp",), _mariadb, legs=ONE_GREETING,
            grants=("ALL PRIVILEGES ON *.* WITH GRANT OPTION",),
        ),
        Suite(
            "aiomysql", "aiomysql==0.3.2", (AIOMYSQL_ROOT,), (), _aiomysql, legs=ONE_GREETING,
            grants=("ALL PRIVILEGES ON *.* WITH GRANT OPTION",),
            # the versions its own requirements-dev.txt pins (PyMySQL 1.2 broke its escape())
            helpers=("pytest==8.4.2", "PyMySQL==1.1.2", "SQLAlchemy==1.3.24", "uvloop==0.22.1",
                     "cryptography==50.0.2"),
        ),
        Suite(
            "mysql-connector-python", "mysql-connector-python==26.10.0", (MYCONNPY,),
            ("myconnpy",), _connector, legs=ONE_GREETING,
            grants=("ALL PRIVILEGES ON *.* WITH GRANT OPTION",), helpers=(),
        ),
    )
}  # fmt: skip
