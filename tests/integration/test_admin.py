"""The runtime admin interface, end to end: a real bridge, real client logins, and the
`mysql-auth-bridge sessions / kill / reload / status / unlock` commands in a subprocess."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.bridgeproc import run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from tests.integration.harness import (
    ACCOUNTS,
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


def test_a_yaml_syntax_error_is_one_line_with_the_file_and_line(with_admin: Bridge) -> None:
    """A brace left open in an accounts file: `reload`, `check` and the log say where, in one
    line as every other error (not PyYAML's four lines about a `<unicode string>`, which
    check counted as 4 errors), and the running configuration stays."""
    accounts = with_admin.directory / "accounts.yaml"
    good = accounts.read_text()
    accounts.write_text('accounts:\n  - {user: x, host: "%"\n')
    said = (
        f"{accounts}:3: not valid YAML: did not find expected ',' or '}}' (column 1; while "
        "parsing a flow mapping at line 2, column 5)"
    )
    try:
        done = admin(with_admin, "reload")
        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            "mysql-auth-bridge: reload failed, keeping the running configuration:",
            said,
        ]
        checked = admin(with_admin, "check", "--skip-ports")
        assert checked.returncode == 1
        assert [line for line in checked.stderr.splitlines() if "error" in line] == [
            f"error: {said}",
            f"{with_admin.config}: 1 error(s)",
        ]
        log = (with_admin.directory / "bridge.log").read_text()
        assert f"reload failed, keeping the running configuration: {said}\n" in log
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


def test_status_digests_are_of_what_the_bridge_loaded_not_of_the_disk(with_admin: Bridge) -> None:
    """A DBA compares `status` digests across bridges to see that each loaded the new
    accounts file: an edit not yet reloaded, or one a reload refused, must not show."""

    def digest(path: Path) -> str:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()

    accounts = with_admin.directory / "accounts.yaml"
    loaded = digest(accounts)
    assert admin_json(with_admin, "status")["config"][str(accounts)] == loaded
    good = accounts.read_text()
    rows = [r for r in yaml.safe_load(good)["accounts"] if r["user"] != "fresh"]
    with_admin.write_accounts(rows)  # valid, not reloaded yet
    assert admin_json(with_admin, "status")["config"][str(accounts)] == loaded
    with_admin.write_accounts([*rows, {"user": "x", "plugin": "mysql_native_password",
                                       "authentication_string": "nope"}])  # fmt: skip
    assert admin(with_admin, "reload").returncode == 1  # refused: the old file stays loaded
    assert digest(accounts) != loaded
    assert admin_json(with_admin, "status")["config"][str(accounts)] == loaded
    with_admin.write_accounts(rows)
    assert admin(with_admin, "reload").returncode == 0
    assert admin_json(with_admin, "status")["config"][str(accounts)] == digest(accounts) != loaded
    accounts.write_text(good)


def test_unlock_lets_a_locked_account_in_again(with_admin: Bridge) -> None:
    for _ in range(2):
        assert mariadb_cli(with_admin, "nat", "wrong").returncode != 0
    locked = mariadb_cli(with_admin, "nat", "nat-pw")
    assert "3955" in locked.stderr
    done = admin(with_admin, "unlock", "nat@127.0.0.1")
    assert done.returncode == 0 and "1 failure record(s) forgotten" in done.stdout
    assert mariadb_cli(with_admin, "nat", "nat-pw").stdout.strip() == "nat@%"


def test_unlock_user_at_localhost_as_the_error_names_a_loopback_client(with_admin: Bridge) -> None:
    """A TCP client from 127.0.0.1 is 'nat'@'localhost' in the 3955 the DBA reads (as
    mysqld names it): `unlock nat@localhost` frees it, as it frees the Unix socket's. An
    address with nothing recorded says so and how to forget every address."""
    for transport in ("tls", "socket"):
        for _ in range(2):
            assert mariadb_cli(with_admin, "nat", "wrong", transport=transport).returncode != 0
        locked = mariadb_cli(with_admin, "nat", "nat-pw", transport=transport)
        assert "ERROR 3955" in locked.stderr and "'nat'@'localhost'" in locked.stderr
        done = admin(with_admin, "unlock", "nat@localhost")
        assert done.returncode == 0 and "1 failure record(s) forgotten" in done.stdout, done
        assert mariadb_cli(with_admin, "nat", "nat-pw", transport=transport).stdout == "nat@%\n"
    done = admin(with_admin, "unlock", "nat@10.9.9.9")
    assert done.returncode == 0 and "0 failure record(s) forgotten" in done.stdout
    assert ("no failed logins of 'nat' from 10.9.9.9 are recorded; `mysql-auth-bridge unlock "
            "nat` forgets them from every address") in done.stderr  # fmt: skip


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


def test_a_short_token_is_warned_about_by_check_and_serve(
    make_bridge: MakeBridge, tmp_path: Path
) -> None:
    """Any local user reaches a loopback admin port and may try tokens as fast as it answers:
    a token of a few bytes (this one: 6) is a matter of minutes."""
    token = tmp_path / "admin.token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    port = free_port()
    bridge = make_bridge(admin={"listen": f"127.0.0.1:{port}", "token_file": str(token)})
    warning = f"admin.token_file {token}: a token of 6 bytes can be guessed by anyone who reaches admin.listen"
    assert warning in bridge.log
    done = subprocess.run([sys.executable, "-m", "bridge", "check", "--skip-ports", "-c", str(bridge.config)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and warning in done.stderr, done.stderr
    token.write_text(os.urandom(16).hex() + "\n")  # 32 bytes: no warning
    done = subprocess.run([sys.executable, "-m", "bridge", "check", "--skip-ports", "-c", str(bridge.config)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "admin.token_file" not in done.stderr


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


def test_reload_prints_the_settings_that_wait_for_a_restart(with_admin: Bridge) -> None:
    good = with_admin.config.read_text()
    data = yaml.safe_load(good)
    data["log"] = {"level": "info"}  # the harness starts bridges at debug
    with_admin.config.write_text(yaml.safe_dump(data))
    try:
        done = admin(with_admin, "reload")
        assert done.returncode == 0 and f"reloaded {with_admin.config}" in done.stdout
        warning = "warning: log changed; the running values stay until the next restart"
        assert done.stderr.strip() == warning, done.stderr
    finally:
        with_admin.config.write_text(good)
    done = admin(with_admin, "reload")
    assert done.returncode == 0 and done.stderr == ""  # as started: nothing waits


def denials_by_worker(bridge: Any) -> tuple[int, int]:
    """'access denied' lines of worker 0 (odd connection ids) and worker 1 (even ones)."""
    ids = [int(m) for m in re.findall(r"conn=(\d+) access denied", bridge.log)]
    return sum(i % 2 for i in ids), sum(1 - i % 2 for i in ids)


def test_admin_commands_under_workers_ask_every_worker(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """`serve --workers 2`: admin.sock.0 and .1, no admin.sock. Without --worker, status,
    sessions, kill, reload and unlock reach both (memory state: each worker's lock is its
    own, so an unlock must reach both); the log names each worker's own addresses."""
    port = free_port()
    write_config(tmp_path, port, mariadb.port, certs, ACCOUNTS, None,
                 admin={"listen": f"unix:{tmp_path}/admin.sock"}, server={"connect_timeout": 5},
                 protection={"failed_login_attempts": 2, "lock_time": 600, "lock_by": "account"})  # fmt: skip
    bridge = run_bridge(tmp_path, port, certs, None, ("--workers", "2"))
    try:
        bridge.wait_log("2 workers ready")
        log = bridge.log
        for i in (0, 1):
            assert f"admin interface on unix:{tmp_path}/admin.sock.{i}\n" in log
        assert f"listening on unix:{bridge.socket} (bound once for the workers)" in log
        assert "systemd" not in log and not (tmp_path / "admin.sock").exists()
        with socket.socket(socket.AF_UNIX) as stale:  # a gone bridge's worker 2: left out
            stale.bind(f"{tmp_path}/admin.sock.2")

        done = admin(bridge, "status")
        assert done.returncode == 0, done.stderr
        assert (
            "status: ok (worker 0, pid" in done.stdout
            and "status: ok (worker 1, pid" in done.stdout
        )
        assert [r["worker"] for r in admin_json(bridge, "status")] == [0, 1]
        one = json.loads(admin(bridge, "status", "--json", "--worker", "1").stdout)
        assert one["worker"] == 1
        beyond = admin(bridge, "status", "--worker", "3")  # of 2 (admin.sock.2 is stale)
        assert beyond.returncode == 1
        assert "(--worker 3: the admin sockets there are those of worker 0, 1, 2)" in (
            beyond.stderr
        )

        conns = [connect("pymysql", bridge, "nat", "nat-pw", "tcp") for _ in range(16)]
        try:
            ids = {c.thread_id() for c in conns}
            assert {i % 2 for i in ids} == {0, 1}, "the kernel never spread the connections"
            rows = admin_json(bridge, "sessions")
            assert {r["id"] for r in rows} == ids
            assert all(r["worker"] == (0 if r["id"] % 2 else 1) for r in rows)
            assert admin(bridge, "sessions").stdout.split()[:2] == ["worker", "id"]
            victim = next(c for c in conns if c.thread_id() % 2 == 0)  # on worker 1
            done = admin(bridge, "kill", str(victim.thread_id()))
            assert done.returncode == 0 and f"session {victim.thread_id()} ended" in done.stdout
            assert len(admin_json(bridge, "sessions")) == 15
        finally:
            for conn in conns:
                with contextlib.suppress(Exception):
                    conn.close()
        refused = admin(bridge, "kill", "99999")
        assert refused.returncode == 1
        assert "mysql-auth-bridge: worker 0, 1: no session 99999" in refused.stderr

        for _ in range(60):  # wrong passwords until each worker has locked nat
            if min(denials_by_worker(bridge)) >= 2:
                break
            assert mariadb_cli(bridge, "nat", "wrong", transport="tcp").returncode != 0
        assert min(denials_by_worker(bridge)) >= 2, denials_by_worker(bridge)
        for _ in range(6):
            assert "3955" in mariadb_cli(bridge, "nat", "nat-pw", transport="tcp").stderr
        done = admin(bridge, "unlock", "nat")
        assert done.returncode == 0, done.stderr
        assert re.search(r"unlocked nat \(worker 0, 1\): [2-9]\d* failure record", done.stdout)
        thread_ids = set()
        for _ in range(12):
            with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as conn:
                thread_ids.add(conn.thread_id() % 2)
        assert thread_ids == {0, 1}  # both workers let nat in again

        done = admin(bridge, "reload")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"reloaded {bridge.config} (worker 0, 1)"
    finally:
        bridge.stop()


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_status_into_a_closed_pipe_exits_quietly(with_admin: Bridge) -> None:
    """`status | head -0`: the reader is gone before the report is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "bridge", "status", "-c", str(with_admin.config)],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr


def test_a_tcp_admin_address_under_workers_reaches_every_worker(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """TCP: worker i on the port + i, the port itself being worker 0's; the first answer
    says how many workers there are."""
    token = tmp_path / "admin.token"
    token.write_text("t0ken-" + os.urandom(8).hex() + "\n")
    token.chmod(0o600)
    port, admin_port = free_port(), free_port()
    while not port_free(admin_port + 1):  # worker 1's
        admin_port = free_port()
    write_config(tmp_path, port, mariadb.port, certs, ACCOUNTS, None,
                 admin={"listen": f"127.0.0.1:{admin_port}", "token_file": str(token)})  # fmt: skip
    bridge = run_bridge(tmp_path, port, certs, None, ("--workers", "2"))
    try:
        bridge.wait_log("2 workers ready")
        for i in (0, 1):
            assert f"admin interface on 127.0.0.1:{admin_port + i}\n" in bridge.log
        reports = admin_json(bridge, "status")
        assert [(r["worker"], r["status"]) for r in reports] == [(0, "ok"), (1, "ok")]
        assert len({r["pid"] for r in reports}) == 2
    finally:
        bridge.stop()


def test_a_worker_that_fails_at_start_stops_the_start(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """Worker 1's admin port (port + 1) is taken by a stranger: worker 1 exits before it is
    ready. The parent says so (never 'N workers ready'), ends worker 0 and exits 1."""
    token = tmp_path / "admin.token"
    token.write_text("t0ken-" + os.urandom(8).hex() + "\n")
    token.chmod(0o600)
    port, admin_port = free_port(), free_port()
    while not port_free(admin_port + 1):
        admin_port = free_port()
    write_config(tmp_path, port, mariadb.port, certs, ACCOUNTS, None,
                 admin={"listen": f"127.0.0.1:{admin_port}", "token_file": str(token)})  # fmt: skip
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", admin_port + 1))
        stranger.listen(1)
        done = subprocess.run([sys.executable, "-m", "bridge", "serve", "-c",
                               str(tmp_path / "bridge.yaml"), "--workers", "2"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 1, log
    assert "workers ready" not in log
    worker1 = re.search(r"worker 1 \(pid (\d+)\) exited with code 1 before it was ready; "
                        r"1 of 2 workers were ready: stopping them", log)  # fmt: skip
    assert worker1 is not None, log
    assert f"127.0.0.1:{admin_port + 1}" in log  # the worker's own reason, before it
    assert "Traceback" not in log
    assert "listening on 127.0.0.1" in log  # worker 0 was serving ...
    assert port_free(port)  # ... and is gone: nothing holds the MySQL port
    assert not Path(
        yaml.safe_load((tmp_path / "bridge.yaml").read_text())["listen"]["unix"]
    ).exists()


def test_an_ipv6_lock_is_the_clients_64_and_unlock_names_any_address_of_it(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """Locked from ::1 (lock_by account_and_address): 127.0.0.1 is another source and logs
    in; `unlock nat@::2` (::2 is in ::1's /64, the record's key) lets ::1 in again."""
    import pymysql

    port, port6 = free_port(), free_port()
    write_config(tmp_path, port, mariadb.port, certs, ACCOUNTS, None,
                 admin={"listen": f"unix:{tmp_path}/admin.sock"},
                 protection={"failed_login_attempts": 2, "lock_by": "account_and_address"},
                 listen={"tcp": [f"127.0.0.1:{port}", f"[::1]:{port6}"]})  # fmt: skip
    bridge = run_bridge(tmp_path, port, certs)

    def over_ipv6(password: str) -> int | None:
        try:
            pymysql.connect(host="::1", port=port6, user="nat", password=password).close()
        except pymysql.MySQLError as exc:
            return int(exc.args[0])
        return None

    try:
        assert [over_ipv6("wrong"), over_ipv6("wrong"), over_ipv6("nat-pw")] == [1045, 1045, 3955]
        with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
        done = admin(bridge, "unlock", "nat@::2")
        assert done.returncode == 0 and "1 failure record(s) forgotten" in done.stdout, done
        assert over_ipv6("nat-pw") is None
    finally:
        bridge.stop()
