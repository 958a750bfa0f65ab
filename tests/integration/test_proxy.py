"""Proxy users end to end: a real client logs in through the bridge; CURRENT_USER() upstream
is the proxied account, session_connect_attrs name the external user, init_sql ran, and the
audit log has one line per attempt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from sandbox.bridgeproc import hash_text
from sandbox.mariadb import MariaDB
from tests.integration.harness import (
    Bridge,
    MakeBridge,
    bridge_attr,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def proxied_upstream(mariadb: MariaDB) -> None:
    for user in ("developer", "reader"):
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'up-{user}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")


def configure(
    bridge: Bridge, rows: list[dict[str, Any]], grants: list[dict[str, Any]], audit: bool = True
) -> None:
    (bridge.directory / "accounts.yaml").write_text(
        yaml.safe_dump({"accounts": rows, "proxy_grants": grants})
    )
    creds = bridge.directory / "upstream-credentials.yaml"
    creds.write_text(yaml.safe_dump({"developer": {"password": "up-developer"}, "reader": {"password": "up-reader"},
                                     "nat": {"password": "up-nat"}}))  # fmt: skip
    os.chmod(creds, 0o600)
    config = yaml.safe_load(bridge.config.read_text())
    if audit:
        config["audit_log"] = "audit.jsonl"
    bridge.config.write_text(yaml.safe_dump(config))
    assert bridge.reload()


def audit_lines(bridge: Bridge) -> list[dict[str, Any]]:
    return [json.loads(line) for line in bridge.audit_text().splitlines()]


def row(user: str, password: str, **extra: object) -> dict[str, Any]:
    return {"user": user, "host": "%", "plugin": "caching_sha2_password",
            "authentication_string": hash_text("caching_sha2_password", password), **extra}  # fmt: skip


@pytest.fixture
def proxy_bridge(make_bridge: MakeBridge, proxied_upstream: None) -> Bridge:
    bridge = make_bridge()
    configure(
        bridge,
        [row("alice", "alice-pw", init_sql=["SET @external_user = {external_user}, @via = {proxy_account}"]),
         row("o'brien", "ob-pw"),
         row("nat", "nat-pw")],
        [{"proxy": "'alice'@'%'", "proxied": ["'developer'@'%'"]},
         {"proxy": "'o''brien'@'%'", "proxied": ["'reader'@'%'"]}],
    )  # fmt: skip
    return bridge


@pytest.mark.parametrize("client", ["pymysql", "connector", "mysqlclient"])
def test_proxied_account_upstream_and_external_user_in_the_attributes(
    proxy_bridge: Bridge, client: str
) -> None:
    with closing(connect(client, proxy_bridge, "alice", "alice-pw", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
        assert bridge_attr(conn, "bridge_external_user") == "alice"
        assert bridge_attr(conn, "bridge_proxy_account") == "'alice'@'%'"
        assert (
            scalar(conn, "SELECT CONCAT(@external_user, ' via ', @via)") == "alice via 'alice'@'%'"
        )


def test_mariadb_cli_through_a_proxy(proxy_bridge: Bridge) -> None:
    done = mariadb_cli(
        proxy_bridge, "alice", "alice-pw", sql="SELECT CURRENT_USER(), @external_user"
    )
    assert done.stdout.split() == ["developer@%", "alice"], done.stderr


def test_init_sql_values_cannot_inject(proxy_bridge: Bridge) -> None:
    rows = yaml.safe_load((proxy_bridge.directory / "accounts.yaml").read_text())["accounts"]
    rows[1]["init_sql"] = ["SET @who = {external_user}"]
    (proxy_bridge.directory / "accounts.yaml").write_text(yaml.safe_dump(
        {"accounts": rows, "proxy_grants": [{"proxy": "'o''brien'@'%'", "proxied": ["'reader'@'%'"]}]}))  # fmt: skip
    assert proxy_bridge.reload()
    with closing(connect("pymysql", proxy_bridge, "o'brien", "ob-pw", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "reader@%"
        assert scalar(conn, "SELECT @who") == "o'brien"


def test_named_account_without_grant_logs_in_as_itself(proxy_bridge: Bridge) -> None:
    with closing(connect("pymysql", proxy_bridge, "nat", "nat-pw", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
        assert bridge_attr(conn, "bridge_external_user") == "nat"


def test_a_grant_to_an_account_without_credentials_is_passed_over(proxy_bridge: Bridge) -> None:
    """As MySQL's check_proxy_users passes over a grant whose proxied account does not
    exist: alice's first grant names an account the credentials file lacks, her second is
    used; with none usable she logs in as herself, here 3169 (the bridge has no credentials
    for 'alice'), never as the missing account."""
    rows = yaml.safe_load((proxy_bridge.directory / "accounts.yaml").read_text())["accounts"]
    grants = [{"proxy": "'alice'@'%'", "proxied": ["'ghost'@'%'", "'developer'@'%'"]}]
    (proxy_bridge.directory / "accounts.yaml").write_text(
        yaml.safe_dump({"accounts": rows, "proxy_grants": grants}))  # fmt: skip
    assert proxy_bridge.reload()
    with closing(connect("pymysql", proxy_bridge, "alice", "alice-pw", "tls")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
    explained = subprocess.run(
        [sys.executable, "-m", "bridge", "explain", "-c", str(proxy_bridge.config), "alice",
         "--host", "127.0.0.1"], capture_output=True, text=True, timeout=60, check=False,
    ).stdout  # fmt: skip
    assert ("mapping: PROXY grant -> 'developer' (PROXY grant on 'ghost'@'%' passed over: no "
            "upstream credentials") in explained, explained  # fmt: skip
    creds = proxy_bridge.directory / "upstream-credentials.yaml"
    creds.write_text(
        yaml.safe_dump({"reader": {"password": "up-reader"}, "nat": {"password": "up-nat"}})
    )
    assert proxy_bridge.reload()
    errno, message = error_of(
        pytest.raises(Exception, connect, "pymysql", proxy_bridge, "alice", "alice-pw").value
    )
    assert errno == 3169, message
    assert "no upstream credentials for account 'alice'" in proxy_bridge.log


def test_audit_log_one_line_per_attempt(proxy_bridge: Bridge) -> None:
    connect("mysqlclient", proxy_bridge, "alice", "alice-pw", "tls").close()
    with pytest.raises(Exception):
        connect("pymysql", proxy_bridge, "alice", "wrong-secret", "tls")
    with pytest.raises(Exception):
        connect("pymysql", proxy_bridge, "ghost", "x", "tcp")
    with closing(connect("mysqlclient", proxy_bridge, "nat", "nat-pw", "tls")) as conn:
        conn.change_user("alice", "alice-pw")
    lines = audit_lines(proxy_bridge)
    ok, wrong, ghost, nat, change = lines[-5:]
    assert ok["result"] == "ok" and ok["event"] == "login" and ok["user"] == "alice"
    assert ok["proxied_account"] == "'developer'@'%'" and ok["identity"] == "alice"
    assert ok["wire_method"] == "caching_sha2_password" and ok["backend"] == "store"
    assert ok["transport"] == "tls" and ok["client"] == "127.0.0.1" and ok["duration_ms"] >= 0
    assert (
        wrong["result"] == "denied" and wrong["reason"] == "password does not match the stored hash"
    )
    assert (
        ghost["result"] == "denied"
        and ghost["row"] == "decoy"
        and ghost["reason"] == "no account matches"
    )
    assert ghost["transport"] == "tcp"
    assert nat["result"] == "ok" and nat["proxied_account"] == "'nat'@'%'"
    assert (
        change["event"] == "change_user"
        and change["result"] == "ok"
        and change["proxied_account"] == "'developer'@'%'"
    )
    text = proxy_bridge.audit_text()
    assert "alice-pw" not in text and "wrong-secret" not in text


def test_audit_records_can_go_to_the_log(make_bridge: MakeBridge) -> None:
    bridge = make_bridge(audit_log="log")
    connect("pymysql", bridge, "nat", "nat-pw", "tls").close()
    bridge.wait_log("bridge.audit")
    line = next(x for x in bridge.log.splitlines() if "bridge.audit" in x)
    record = json.loads(line.split("bridge.audit: ", 1)[1])
    assert (record["user"], record["result"], record["event"]) == ("nat", "ok", "login")
