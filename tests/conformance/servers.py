"""The servers the suites run against: one sandbox MariaDB (TLS with a test CA) with every
suite's accounts, and two bridges in front of it, one per greeting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sandbox.bridgeproc import Account, BridgeProcess, run_bridge, write_config
from sandbox.certs import CertSet, make_certs
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from tests.conformance.suites import Suite, Target

GREETINGS = {"bridge": "caching_sha2_password", "bridge-native": "mysql_native_password"}


@dataclass
class Servers:
    db: MariaDB
    certs: CertSet
    bridges: dict[str, BridgeProcess]

    def target(self, leg: str) -> Target:
        if leg == "direct":
            return Target(leg, "127.0.0.1", self.db.port, self.db.socket, self.certs.ca)
        bridge = self.bridges[leg]
        return Target(leg, "127.0.0.1", bridge.port, bridge.socket, self.certs.ca)

    def reset_databases(self, suite: Suite) -> None:
        for name in suite.databases:
            self.db.sql(f"DROP DATABASE IF EXISTS `{name}`")
            self.db.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")


@contextmanager
def running(work: Path, suites: list[Suite]) -> Iterator[Servers]:
    certs = make_certs(work / "certs")
    with ExitStack() as stack:
        db = MariaDB.start(work / "mariadb", certs)
        stack.callback(db.stop)
        accounts = [(a, s) for s in suites for a in s.accounts]
        for account, suite in accounts:
            _create_upstream(db, account, suite.grants)
        bridges: dict[str, BridgeProcess] = {}
        for leg, greeting in GREETINGS.items():
            bridges[leg] = _start_bridge(work / leg, db, certs, [a for a, _ in accounts], greeting)
            stack.callback(bridges[leg].stop)
        yield Servers(db, certs, bridges)


def _create_upstream(db: MariaDB, account: Account, grants: tuple[str, ...]) -> None:
    """The account as the suite expects it on a real server; the bridge logs in as it too."""
    password = account.upstream_password.replace("'", "''")
    hosts = ["%"]
    if account.user == "root":  # keep the sandbox's own root login (unix_socket) working
        hosts += db.sql("SELECT Host FROM mysql.user WHERE User = 'root'").split()
    for host in dict.fromkeys(hosts):
        db.sql(f"CREATE USER IF NOT EXISTS '{account.user}'@'{host}'")
        auth = f"mysql_native_password USING PASSWORD('{password}')"
        if account.user == "root":
            auth = f"unix_socket OR {auth}"
        db.sql(f"ALTER USER '{account.user}'@'{host}' IDENTIFIED VIA {auth}")
        for grant in grants:
            on, _, option = grant.partition(" WITH ")
            tail = f" WITH {option}" if option else ""
            db.sql(f"GRANT {on} TO '{account.user}'@'{host}'{tail}")


def _start_bridge(directory: Path, db: MariaDB, certs: CertSet, accounts: list[Account],
                  greeting: str) -> BridgeProcess:  # fmt: skip
    port = free_port()
    write_config(directory, port, db.port, certs, accounts,
                 server={"connect_timeout": 10, "default_auth_plugin": greeting},
                 upstream={"tls": {"mode": "verify_identity", "ca": str(certs.ca)}})  # fmt: skip
    return run_bridge(directory, port, certs)
