"""The runtime admin interface, end to end: a real bridge, real client logins, and the
`mysql-auth-bridge sessions / kill / reload / status / unlock` commands in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.ports import free_port
from tests.integration.harness import (
    Bridge,
    MakeBridge,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
)

pytestmark = pytest.mark.integration


def admin(bridge: Bridge, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args, "-c", str(bridge.config)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def admin_json(bridge: Bridge, command: str) -> Any:
    done = admin(bridge, command, "--json")
    assert done.returncode in (0, 2), done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def with_admin(make_bridge: MakeBridge, tmp_path: Path) -> Bridge:
    return make_bridge(admin={"listen": f"unix:{tmp_path}/admin.sock"},
                       protection={"failed_login_attempts": 2, "lock_time": 600,
                                   "lock_by": "account_and_address"})  # fmt: skip


def test_the_admin_socket_is_the_owners_only(with_admin: Bridge, tmp_path: Path) -> None:
    mode = (tmp_path / "admin.sock").stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_sessions_lists_who_is_connected_and_kill_ends_a_session(with_admin: Bridge) -> None:
    with closing(connect("pymysql", with_admin, "app", "app-pw", "tls")) as app:
        assert scalar(app, "SELECT COUNT(*) FROM information_schema.COLLATIONS") > 10
        with closing(connect("mysqlclient", with_admin, "nat", "nat-pw", "socket")) as nat:
            rows = {r["user"]: r for r in admin_json(with_admin, "sessions")}
            assert set(rows) == {"app", "nat"}
            assert rows["app"]["account"] == "'app'@'%'" and rows["app"]["proxied"] is False
            assert rows["app"]["method"] == "caching_sha2_password"
            assert rows["app"]["backend"] == "store" and rows["app"]["state"] == "relaying"
            assert rows["app"]["client"].startswith("127.0.0.1:")
            assert rows["app"]["bytes_to_client"] > 1000 and rows["app"]["bytes_from_client"] > 50
            assert (
                rows["nat"]["client"] == "unix socket"
                and rows["nat"]["method"] == "mysql_native_password"
            )
            table = admin(with_admin, "sessions").stdout.splitlines()
            assert table[0].split() == ["id", "user", "account", "client", "method", "backend",
                                        "since", "bytes_from_client", "bytes_to_client"]  # fmt: skip
            assert len(table) == 3
            done = admin(with_admin, "kill", str(rows["app"]["id"]))
            assert done.returncode == 0 and f"session {rows['app']['id']} ended" in done.stdout
            with pytest.raises(Exception) as ended:
                scalar(app, "SELECT 1")
            assert error_of(ended.value)[0] in (2006, 2013)
            assert scalar(nat, "SELECT CURRENT_USER()") == "nat@%"  # the other one goes on
            assert [r["user"] for r in admin_json(with_admin, "sessions")] == ["nat"]
    refused = admin(with_admin, "kill", "99999")
    assert refused.returncode == 1 and "no session 99999" in refused.stderr


def test_reload_reports_ok_or_the_errors_and_keeps_the_running_config(with_admin: Bridge) -> None:
    done = admin(with_admin, "reload")
    assert done.returncode == 0 and f"reloaded {with_admin.config}" in done.stdout
    accounts = with_admin.directory / "accounts.yaml"
    good = accounts.read_text()
    rows = yaml.safe_load(good)["accounts"]
    with_admin.write_accounts([*rows, {"user": "x", "plugin": "mysql_native_password",
                                       "authentication_string": "nope"}])  # fmt: skip
    try:
        done = admin(with_admin, "reload")
        assert done.returncode == 1
        assert "reload failed, keeping the running configuration" in done.stderr
        assert f"{accounts}:" in done.stderr and "'*' and 40 hex" in done.stderr
        assert "last reload failed" in admin(with_admin, "status").stdout
        assert mariadb_cli(with_admin, "nat", "nat-pw").stdout.strip() == "nat@%"
    finally:
        accounts.write_text(good)
    assert admin(with_admin, "reload").returncode == 0


def test_reload_with_a_broken_bridge_yaml_says_the_bridge_was_not_asked(
    with_admin: Bridge, tmp_path: Path
) -> None:
    """The client reads the admin address from bridge.yaml: when that file is broken, its
    errors are not a refused reload. --admin reaches the bridge, which refuses it itself."""
    good = with_admin.config.read_text()
    broken = good.replace("server:\n", "server:\n  max_conections: 3\n", 1)
    assert broken != good
    with_admin.config.write_text(broken)
    try:
        done = admin(with_admin, "reload")
        assert done.returncode == 1
        assert "server.max_conections: unknown key" in done.stderr
        assert "the running bridge was not asked" in done.stderr and "--admin" in done.stderr
        assert "reload failed" not in done.stderr
        done = admin(with_admin, "reload", "--admin", f"unix:{tmp_path}/admin.sock")
        assert done.returncode == 1
        assert "reload failed, keeping the running configuration" in done.stderr
        assert "server.max_conections: unknown key" in done.stderr
        assert mariadb_cli(with_admin, "nat", "nat-pw").stdout.strip() == "nat@%"
    finally:
        with_admin.config.write_text(good)


def test_status_reports_files_upstream_and_counts(with_admin: Bridge) -> None:
    assert mariadb_cli(with_admin, "app", "app-pw").returncode == 0
    report = admin_json(with_admin, "status")
    assert report["status"] == "ok" and report["upstream"]["state"] == "ok"
    config = with_admin.config
    assert (
        report["config"][str(config)] == "sha256:" + hashlib.sha256(config.read_bytes()).hexdigest()
    )
    assert str(with_admin.directory / "accounts.yaml") in report["config"]
    assert not any("credentials" in path for path in report["config"])  # no digest of a secret
    assert report["sessions_total"] >= 1 and report["account_rows"] == 6
    text = admin(with_admin, "status")
    assert text.returncode == 0 and "upstream 127.0.0.1:" in text.stdout and ": ok" in text.stdout


def test_unlock_lets_a_locked_account_in_again(with_admin: Bridge) -> None:
    for _ in range(2):
        assert mariadb_cli(with_admin, "nat", "wrong").returncode != 0
    locked = mariadb_cli(with_admin, "nat", "nat-pw")
    assert "3955" in locked.stderr
    done = admin(with_admin, "unlock", "nat@127.0.0.1")
    assert done.returncode == 0 and "1 failure record(s) forgotten" in done.stdout
    assert mariadb_cli(with_admin, "nat", "nat-pw").stdout.strip() == "nat@%"


def test_a_tcp_admin_listener_needs_the_token(make_bridge: MakeBridge, tmp_path: Path) -> None:
    token = tmp_path / "admin.token"
    token.write_text("t0ken-" + os.urandom(8).hex() + "\n")
    token.chmod(0o600)
    port = free_port()
    bridge = make_bridge(admin={"listen": f"127.0.0.1:{port}", "token_file": str(token)})
    assert admin_json(bridge, "status")["status"] == "ok"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b'{"command": "sessions", "token": "guess"}\n')
        reply = json.loads(sock.makefile("rb").readline())
    assert reply == {"ok": False, "error": "bad or missing token"}
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"not json\n")
        assert json.loads(sock.makefile("rb").readline()) == {"ok": False, "error": "not JSON"}


def test_admin_commands_without_an_admin_section_say_so(bridge: Bridge) -> None:
    done = admin(bridge, "sessions")
    assert done.returncode == 1
    assert "has no 'admin' section: the admin interface is off" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_on_a_running_bridges_config_does_not_call_its_own_ports_busy(
    with_admin: Bridge, tmp_path: Path
) -> None:
    done = admin(with_admin, "check")
    assert done.returncode == 0, done.stderr
    assert (
        f"a bridge is running on this configuration (unix:{tmp_path}/admin.sock answers)"
        in done.stderr
    )


def test_an_empty_token_file_opens_nothing(make_bridge: MakeBridge, tmp_path: Path) -> None:
    """A token file left empty (a failed templating, a truncated secret) must not make the
    empty token the password: the bridge refuses it rather than serve tokenless requests."""
    token = tmp_path / "admin.token"
    token.write_text("\n")
    token.chmod(0o600)
    port = free_port()
    try:
        make_bridge(admin={"listen": f"127.0.0.1:{port}", "token_file": str(token)})
    except Exception as exc:  # refused at start: what we want
        assert "token_file" in str(exc) or "empty" in str(exc), exc
        return
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b'{"command": "sessions"}\n')
        reply = json.loads(sock.makefile("rb").readline())
    assert reply["ok"] is False, reply


def test_a_huge_admin_request_gets_a_clear_error(with_admin: Bridge, tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(tmp_path / "admin.sock"))
        sock.sendall(b'{"command": "status", "pad": "' + b"x" * 200_000 + b'"}\n')
        reply = json.loads(sock.makefile("rb").readline())
    assert reply == {"ok": False, "error": "send one JSON object on one line"}
    assert admin_json(with_admin, "status")["status"] == "ok"  # the listener goes on
