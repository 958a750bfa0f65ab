"""Running the bridge for real: config files in a temp dir, `python -m bridge serve` as a
subprocess, and the client libraries a DBA would use."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from sandbox.bridgeproc import Account as Account  # re-exported: tests import it from here
from sandbox.bridgeproc import BridgeProcess, add_grants, run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port

ACCOUNTS = [
    Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app"),
    Account("nat", "nat-pw", "mysql_native_password", upstream_password="up-nat"),
    Account("sha", "sha-pw", "sha256_password", upstream_password="up-sha"),
    Account("nopw", "", "mysql_native_password", upstream_password="up-nopw"),
    Account("fresh", "fresh-pw", "caching_sha2_password", upstream_password="up-fresh"),
    Account(
        "local", "local-pw", "mysql_native_password", host="localhost", upstream_password="up-local"
    ),
]


def create_upstream_accounts(db: MariaDB, accounts: list[Account]) -> None:
    for a in accounts:
        db.sql(f"CREATE USER IF NOT EXISTS '{a.user}'@'%' IDENTIFIED BY '{a.upstream_password}'")
        db.sql(f"GRANT ALL ON *.* TO '{a.user}'@'%'")
    db.sql("CREATE DATABASE IF NOT EXISTS shop")


Bridge = BridgeProcess


class Endpoint(Protocol):
    """Where a client connects: a bridge, or anything in front of one (HAProxy)."""

    @property
    def port(self) -> int: ...
    @property
    def socket(self) -> Path: ...
    @property
    def certs(self) -> CertSet: ...


class MakeBridge(Protocol):
    """The `make_bridge` fixture: start_bridge's options, in a fresh directory per bridge."""

    def __call__(self, accounts: list[Account] | None = None, env: dict[str, str] | None = None,
                 upstream_only: dict[str, str] | None = None,
                 proxy_grants: list[dict[str, Any]] | None = None, **sections: Any) -> Bridge: ...  # fmt: skip


def start_bridge(directory: Path, db: MariaDB, certs: CertSet, accounts: list[Account] | None = None,
                 env: dict[str, str] | None = None, upstream_only: dict[str, str] | None = None,
                 proxy_grants: list[dict[str, Any]] | None = None, **sections: Any) -> Bridge:  # fmt: skip
    port = free_port()
    accounts = ACCOUNTS if accounts is None else accounts
    server = {"connect_timeout": 5, **sections.pop("server", {})}
    write_config(directory, port, db.port, certs, accounts, upstream_only, server=server,
                 log={"level": "debug"}, **sections)  # fmt: skip
    if proxy_grants:
        add_grants(directory / "accounts.yaml", proxy_grants)
    if "rsa" not in sections:
        seed_rsa_pair(directory)
    return run_bridge(directory, port, certs, env)


@functools.cache
def _rsa_pems() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization

    from bridge import rsa_keys

    pair = rsa_keys.generate()
    private = pair.private_key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())  # fmt: skip
    return private, pair.public_pem


def seed_rsa_pair(directory: Path) -> None:
    """One RSA pair for every bridge start_bridge runs, in the files write_config names,
    so each bridge loads it instead of generating its own (about 0.2 s of a 0.6 s start).
    Generating at the first start is proven by tests/test_rsa.py, the quickstart and the
    Debian package test."""
    if (directory / "private_key.pem").exists():  # a bridge ran here before: its pair stays
        return
    private, public = _rsa_pems()
    fd = os.open(directory / "private_key.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    (directory / "public_key.pem").write_bytes(public)


# --- clients ------------------------------------------------------------------------------


def connect(client: str, bridge: Endpoint, user: str, password: str, transport: str = "tls",
            database: str | None = None, **extra: Any) -> Any:  # fmt: skip
    """A DB-API connection through the bridge with one of the Python client libraries."""
    return CONNECTORS[client](bridge, user, password, transport, database, **extra)


def _endpoint(bridge: Endpoint, user: str, password: str, transport: str, database: str | None,
              extra: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The keyword arguments all three Python client libraries share."""
    kw: dict[str, Any] = {"user": user, "password": password, **extra}
    if database:
        kw["database"] = database
    if transport == "socket":
        kw["unix_socket"] = str(bridge.socket)
    else:
        kw.update(host="127.0.0.1", port=bridge.port)
    return kw


def _pymysql(bridge: Endpoint, user: str, password: str, transport: str, database: str | None,
             **extra: Any) -> Any:  # fmt: skip
    import pymysql

    kw = _endpoint(bridge, user, password, transport, None, extra)
    kw["database"] = database
    if transport == "tls":
        kw["ssl"] = {"ca": str(bridge.certs.ca)}
    else:
        kw["ssl_disabled"] = True  # PyMySQL >= 1.1 otherwise negotiates TLS by itself
    return pymysql.connect(**kw)


def _connector(bridge: Endpoint, user: str, password: str, transport: str, database: str | None,
               **extra: Any) -> Any:  # fmt: skip
    import mysql.connector

    kw = _endpoint(bridge, user, password, transport, database, {"use_pure": True, **extra})
    if transport == "tls":
        kw["ssl_ca"] = str(bridge.certs.ca)
    else:
        kw["ssl_disabled"] = True
    return mysql.connector.connect(**kw)


def _mysqlclient(bridge: Endpoint, user: str, password: str, transport: str, database: str | None,
                 **extra: Any) -> Any:  # fmt: skip
    import MySQLdb

    kw = _endpoint(bridge, user, password, transport, database, extra)
    if transport == "tls":
        kw["ssl"] = {"ca": str(bridge.certs.ca)}
    elif transport == "tcp":
        kw["ssl_mode"] = "DISABLED"
    return MySQLdb.connect(**kw)


CONNECTORS = {"pymysql": _pymysql, "connector": _connector, "mysqlclient": _mysqlclient}


def scalar(conn: Any, sql: str, args: Any = None) -> Any:
    cur = conn.cursor()
    cur.execute(sql, args)
    row = cur.fetchone()
    cur.close()
    return row[0] if row else None


def bridge_attr(conn: Any, name: str) -> Any:
    """A connection attribute the bridge set on the upstream session, as the upstream sees it."""
    return scalar(conn, "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs "
                        "WHERE PROCESSLIST_ID = CONNECTION_ID() AND ATTR_NAME = %s", (name,))  # fmt: skip


def error_of(exc: BaseException) -> tuple[int, str]:
    """(errno, message) from any of the client libraries' exceptions."""
    args: tuple[Any, ...] = getattr(exc, "args", ())
    errno: Any = getattr(exc, "errno", None)
    msg: Any = getattr(exc, "msg", None)
    if hasattr(exc, "errno") and msg is not None:
        return int(errno), str(msg)
    return int(args[0]), str(args[1])


def mariadb_cli(bridge: Endpoint, user: str, password: str | None, *args: str, sql: str = "SELECT CURRENT_USER()",
                transport: str = "tls", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    cmd = ["mariadb", "--no-defaults", f"-u{user}", "-N", "-B", "-e", sql]
    if password is not None:
        cmd.append(f"-p{password}")
    if transport == "socket":
        cmd.append(f"--socket={bridge.socket}")
    else:
        cmd += ["-h127.0.0.1", f"-P{bridge.port}", "--protocol=TCP"]
        cmd += (
            [f"--ssl-ca={bridge.certs.ca}", "--ssl-verify-server-cert"]
            if transport == "tls"
            else ["--skip-ssl"]
        )
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})  # fmt: skip


@contextmanager
def closing(conn: Any) -> Iterator[Any]:
    try:
        yield conn
    finally:
        conn.close()


def elapsed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# A Kerberos login needs no password (the ticket cache does it): client -> (module, its TLS
# options for the bridge's CA).
_SCRIPT_CLIENTS: dict[str, tuple[str, Callable[[str], dict[str, object]]]] = {
    "mysqlclient": ("MySQLdb", lambda ca: {"ssl": {"ca": ca}}),
    "connector": ("mysql.connector", lambda ca: {"use_pure": True, "ssl_ca": ca}),
}


def current_user_script(client: str, bridge: Endpoint, user: str, **extra: object) -> str:
    """A script for in_subprocess: log in over TLS with `client` and print CURRENT_USER()."""
    module, tls = _SCRIPT_CLIENTS[client]
    kw = {
        "host": "127.0.0.1",
        "port": bridge.port,
        "user": user,
        **extra,
        **tls(str(bridge.certs.ca)),
    }
    args = ", ".join(f"{name}={value!r}" for name, value in kw.items())
    return (f"import {module}; c = {module}.connect({args}); cur = c.cursor(); "
            "cur.execute('SELECT CURRENT_USER()'); print(cur.fetchone()[0])")  # fmt: skip


def in_subprocess(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A Python client script run in a process of its own, with `env` (a Kerberos ticket
    cache, say) on top of this one's environment."""
    return subprocess.run([sys.executable, "-c", script], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=30)  # fmt: skip


@contextmanager
def notify_socket(path: Path) -> Iterator[socket.socket]:
    """Where systemd listens for sd_notify messages: a bridge started with
    NOTIFY_SOCKET=path sends READY=1, RELOADING=1 and STOPPING=1 here."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(10)
    try:
        yield listener
    finally:
        listener.close()
