"""`mysql-auth-bridge explain` and a real login take the same decision: for the shipped
mappings/store-accounts.yaml, PyMySQL logs in through a real bridge to a real MariaDB (from
10.x and 192.0.2.x addresses named by a PROXY header, and over the Unix socket), and the row,
wire method, backend, account and error code of the login (audit log, client error) are the
ones explain prints."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pymysql
import pytest

from bridge.protocol.proxy_header import build_v2
from sandbox.bridgeproc import run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.pam import PamSandbox
from sandbox.ports import free_port
from tests.integration.harness import (
    ACCOUNTS,
    Account,
    Bridge,
    MakeBridge,
    closing,
    connect,
    create_upstream_accounts,
    error_of,
    mariadb_cli,
    scalar,
    start_bridge,
)

ROOT = Path(__file__).parent.parent.parent
EXAMPLE = ROOT / "mappings" / "store-accounts.yaml"
# Upstream credentials for two of the example's three rows: 'batch' has none, so a login as
# batch authenticates and then gets 3169 (explain used to say "access denied" there).
# 'app' is also a harness account on the shared MariaDB: its upstream password is kept as is.
SHARED = {a.user: a.upstream_password for a in ACCOUNTS}
UPSTREAM = {"report": "up-report", "app": SHARED["app"]}


@dataclass(frozen=True)
class Decided:
    row: str  # the matched row's account, or 'decoy'
    wire_methods: frozenset[str]  # a login's one; explain's choice for a decoy
    backend: str | None  # None for a decoy (explain names only its plugin)
    account: str | None  # the upstream account, None when there is none
    error: int | None  # None: a session


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@contextmanager
def from_address(bridge: Bridge, source: str) -> Iterator[int]:
    """A port that forwards one connection to the bridge behind a PROXY v2 header naming
    `source` as the client (what HAProxy's send-proxy-v2 does)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", bridge.port))
        upstream.sendall(build_v2(source, 40000, "127.0.0.1", bridge.port))
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def store_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
) -> Iterator[Bridge]:
    own = [user for user in UPSTREAM if user not in SHARED]
    for user in own:
        mariadb.sql(f"CREATE OR REPLACE USER '{user}'@'%' IDENTIFIED BY '{UPSTREAM[user]}'")
    directory = tmp_path_factory.mktemp("explain-vs-login")
    port = free_port()
    write_config(directory, port, mariadb.port, certs, [], UPSTREAM, audit_log="audit.jsonl",
                 server={"skip_name_resolve": True},
                 listen={"proxy_protocol_from": ["127.0.0.1/32"]})  # fmt: skip
    shutil.copy(EXAMPLE, directory / "accounts.yaml")
    running = run_bridge(directory, port, certs)
    yield running
    running.stop()
    for user in own:
        mariadb.sql(f"DROP USER IF EXISTS '{user}'@'%'")


def explained(bridge: Bridge, user: str, host: str, transport: str) -> Decided:
    cmd = [sys.executable, "-m", "bridge", "explain", "-c", str(bridge.config), user,
           "--host", host, "--transport", transport]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    if decoy := re.search(r"^decoy: .*: (.+)$", out, re.M):
        drawn = frozenset(decoy[1].split(", "))
        return Decided("decoy", drawn, None, None, _explained_error(out))
    row = re.search(r"^  match +(\S+) \(", out, re.M)
    method = re.search(r"^wire method: (\S+)$", out, re.M)
    backend = re.search(r"^backend: (\S+)$", out, re.M)
    account = re.search(r"^account: (\S+)", out, re.M)
    assert row and method and backend, out
    methods = frozenset([method[1]])
    return Decided(row[1], methods, backend[1], account and account[1], _explained_error(out))


def _explained_error(out: str) -> int | None:
    result = re.search(r"^result: (.*)$", out, re.M)
    assert result, out
    code = re.search(r"ERROR (\d+)", result[1])
    return int(code[1]) if code else None


def logged_in(bridge: Bridge, user: str, password: str, source: str | None) -> Decided:
    """A real PyMySQL login: over TLS from `source` (via a PROXY header), or the socket."""
    error: int | None = None
    try:
        if source is None:
            _session(connect("pymysql", bridge, user, password, "socket"), user)
        else:
            with from_address(bridge, source) as port:
                _session(pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                                         ssl={"ca": str(bridge.certs.ca)}), user)  # fmt: skip
    except pymysql.MySQLError as exc:
        error = error_of(exc)[0]
    record = _last_audit(bridge, user)
    account = record["proxied_account"]
    row = "decoy" if record["row"] == "decoy" else record["row"]
    backend = None if row == "decoy" else record["backend"]
    return Decided(row, frozenset([record["wire_method"]]), backend, account, error)


def _session(conn: Any, user: str) -> None:
    with closing(conn):
        assert scalar(conn, "SELECT CURRENT_USER()") == f"{user}@%"


def _last_audit(bridge: Bridge, user: str) -> dict[str, str]:
    import json

    records = [json.loads(line) for line in bridge.audit_text().splitlines() if line]
    mine: list[dict[str, str]] = [r for r in records if r["user"] == user]
    assert mine, bridge.audit_text()
    return mine[-1]


CASES = [
    # user, password, client address (None: the Unix socket), explain's --host and --transport
    ("report", "password", "10.1.2.3", "10.1.2.3", "tls"),  # native row for 10.%
    ("app", "hashcat", "192.0.2.7", "192.0.2.7", "tls"),  # caching_sha2 row for %
    ("batch", "", None, "localhost", "socket"),  # authenticates, then 3169: no credentials
    ("report", "password", "192.0.2.7", "192.0.2.7", "tls"),  # no row for this host: decoy
    ("nobody", "x", "10.1.2.3", "10.1.2.3", "tls"),  # unknown user: decoy
]


@pytest.mark.parametrize(("user", "password", "source", "host", "transport"), CASES,
                         ids=[f"{c[0]}@{c[3]}" for c in CASES])  # fmt: skip
def test_explain_matches_a_real_login(
    store_bridge: Bridge, user: str, password: str, source: str | None, host: str, transport: str
) -> None:
    login = logged_in(store_bridge, user, password, source)
    explanation = explained(store_bridge, user, host, transport)
    assert login.wire_methods <= explanation.wire_methods, (explanation, login)
    # A decoy's method is drawn with the running bridge's secret key: explain names the choices.
    assert replace(explanation, wire_methods=login.wire_methods) == login


def test_the_cases_cover_a_session_a_3169_and_a_decoy(store_bridge: Bridge) -> None:
    """The comparison above is only worth something if the logins differ in outcome."""
    outcomes = {logged_in(store_bridge, *case[:3]).error for case in CASES}
    assert outcomes == {None, 3169, 1045}


# --- clear text over plain TCP: ERROR 3159, in explain as in a login ---------------------------


@pytest.fixture
def cleartext_bridge(make_bridge: MakeBridge, mariadb: MariaDB, tmp_path: Path) -> Iterator[Bridge]:
    """A store row asked for mysql_clear_password and a PAM row (pam_wrapper's pam_matrix),
    each with its upstream account."""
    pam = PamSandbox.create(tmp_path / "pam", [("pat", "pat-pw", "mysql")])
    accounts = [
        Account("clr", "clr-pw", "mysql_native_password", upstream_password="up-clr",
                wire_method="mysql_clear_password"),
        Account("pat", "", "authentication_pam", auth_string="mysql", upstream_password="up-pat"),
    ]  # fmt: skip
    create_upstream_accounts(mariadb, accounts)
    yield make_bridge(accounts, env=pam.env(), backends={"pam": pam.config()})
    for account in accounts:
        mariadb.sql(f"DROP USER IF EXISTS '{account.user}'@'%'")


def explain_result(bridge: Bridge, user: str, *args: str) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "bridge", "explain", "-c", str(bridge.config), user,
           "--host", "127.0.0.1", *args]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    result = re.search(r"^result: (.*)$", done.stdout, re.M)
    assert result, done.stdout + done.stderr
    return done.returncode, result[1]


def test_clear_text_over_plain_tcp_is_3159_in_explain_and_in_a_login(
    cleartext_bridge: Bridge,
) -> None:
    bridge = cleartext_bridge
    # The store row asked for mysql_clear_password: PyMySQL without TLS, then with it.
    with pytest.raises(pymysql.MySQLError) as refused:
        connect("pymysql", bridge, "clr", "clr-pw", "tcp")
    assert error_of(refused.value)[0] == 3159
    status, result = explain_result(bridge, "clr", "--transport", "tcp")
    assert status == 1 and result.startswith("refused before authentication (ERROR 3159): ")
    with closing(connect("pymysql", bridge, "clr", "clr-pw", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "clr@%"
    assert explain_result(bridge, "clr", "--transport", "tls") == (
        0, "logs in upstream as 'clr'")  # fmt: skip

    # The PAM row: the mariadb CLI opening with mysql_native_password is switched to dialog.
    done = mariadb_cli(bridge, "pat", "pat-pw", "--default-auth=mysql_native_password",
                       transport="tcp")  # fmt: skip
    assert done.returncode == 1 and "ERROR 3159" in done.stderr, done.stderr
    status, result = explain_result(bridge, "pat", "--transport", "tcp",
                                    "--default-auth", "mysql_native_password")  # fmt: skip
    assert status == 1 and result.startswith("refused before authentication (ERROR 3159): dialog")
    # PyMySQL opens with caching_sha2_password, which PAM rows keep: RSA over plain TCP.
    with closing(connect("pymysql", bridge, "pat", "pat-pw", "tcp")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "pat@%"
    assert explain_result(bridge, "pat", "--transport", "tcp",
                          "--default-auth", "caching_sha2_password") == (
        0, "logs in upstream as 'pat'")  # fmt: skip


@pytest.mark.parametrize(("transport", "code"), [("tcp", 3159), ("tls", 1045), ("socket", 1045)])
def test_an_unknown_user_opening_with_clear_text_gets_what_explain_says(
    cleartext_bridge: Bridge, transport: str, code: int
) -> None:
    """No row matches 'ghost': the decoy keeps the client's mysql_clear_password as a store
    row does, so over plain TCP the transport rule answers first (3159), not the decoy's
    1045; over TLS or the socket the decoy denies. The mariadb CLI and explain agree."""
    bridge = cleartext_bridge
    done = mariadb_cli(bridge, "ghost", "ghost-pw", "--default-auth=mysql_clear_password",
                       "--enable-cleartext-plugin", transport=transport)  # fmt: skip
    assert done.returncode == 1 and f"ERROR {code} " in done.stderr, done.stderr
    host = "localhost" if transport == "socket" else "127.0.0.1"
    cmd = [sys.executable, "-m", "bridge", "explain", "-c", str(bridge.config), "ghost",
           "--host", host, "--transport", transport,
           "--default-auth", "mysql_clear_password"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "(decoy)" in out.stdout, out.stdout + out.stderr
    assert _explained_error(out.stdout) == code, out.stdout


# --- explain without --default-auth: the greeting's plugin, as the mariadb CLI opens --------


@pytest.fixture(scope="module")
def verdict_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet
) -> Iterator[Bridge]:
    """Store rows (one asked for mysql_clear_password) and a PAM row (pam_wrapper)."""
    base = tmp_path_factory.mktemp("verdicts")
    pam = PamSandbox.create(base / "pam", [("vpam", "vpam-pw", "mysql")])
    accounts = [
        Account("vsha", "vsha-pw", "caching_sha2_password", upstream_password="up-vsha"),
        Account("vnat", "vnat-pw", "mysql_native_password", upstream_password="up-vnat"),
        Account("vclr", "vclr-pw", "mysql_native_password", upstream_password="up-vclr",
                wire_method="mysql_clear_password"),
        Account("vpam", "", "authentication_pam", auth_string="mysql", upstream_password="up-vpam"),
    ]  # fmt: skip
    create_upstream_accounts(mariadb, accounts)
    running = start_bridge(base / "bridge", mariadb, certs, accounts, env=pam.env(),
                           backends={"pam": pam.config()})  # fmt: skip
    yield running
    running.stop()
    for account in accounts:
        mariadb.sql(f"DROP USER IF EXISTS '{account.user}'@'%'")


def cli_verdict(done: subprocess.CompletedProcess[str], user: str) -> int | None:
    """None for a session, else the client's error code."""
    if done.returncode == 0:
        assert done.stdout.strip() == f"{user}@%", done.stdout
        return None
    code = re.search(r"ERROR (\d+) ", done.stderr)
    assert code, done.stderr
    return int(code[1])


def explain_verdict(bridge: Bridge, user: str, transport: str) -> int | None:
    host = "localhost" if transport == "socket" else "127.0.0.1"
    status, result = explain_result(bridge, user, "--host", host, "--transport", transport)
    code = re.search(r"ERROR (\d+)", result)
    assert (status == 0) == (code is None), result
    return int(code[1]) if code else None


VERDICTS = [
    ("vsha", "vsha-pw", "tcp", None),
    ("vnat", "vnat-pw", "tcp", None),
    ("vclr", "vclr-pw", "tcp", 3159),  # the row's wire_method: clear text over plain TCP
    ("vpam", "vpam-pw", "tcp", None),  # keeps the CLI's caching_sha2_password: RSA (was 3159)
    ("vsha", "vsha-pw", "socket", None),
    ("vclr", "vclr-pw", "socket", None),
    ("vpam", "vpam-pw", "socket", None),
]


@pytest.mark.parametrize(("user", "password", "transport", "code"), VERDICTS,
                         ids=[f"{v[0]}-{v[2]}" for v in VERDICTS])  # fmt: skip
def test_explain_by_default_opens_as_the_mariadb_cli_does(
    verdict_bridge: Bridge, user: str, password: str, transport: str, code: int | None
) -> None:
    done = mariadb_cli(verdict_bridge, user, password, transport=transport)
    assert cli_verdict(done, user) == code
    assert explain_verdict(verdict_bridge, user, transport) == code
