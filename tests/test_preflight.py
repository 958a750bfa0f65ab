"""`check` finds what `serve` would fail on, all in one run; `serve` fails on it with clear
lines and exit code 1, never a traceback. Run as the operator would: the CLI in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.bridgeproc import hash_text
from sandbox.ports import free_port, wait_until


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def write_conf(directory: Path, port: int, extra: str = "") -> Path:
    (directory / "accounts.yaml").write_text(
        f"accounts:\n  - {{user: app, plugin: caching_sha2_password, "
        f'authentication_string: "{hash_text("caching_sha2_password", "pw")}"}}\n'
    )
    creds = directory / "creds.yaml"
    creds.write_text("app: {password: x}\n")
    creds.chmod(0o600)
    conf = directory / "bridge.yaml"
    conf.write_text(f"listen:\n  tcp: ['127.0.0.1:{port}']\n  unix: {directory}/sock/bridge.sock\n"
                    "upstream: {address: '127.0.0.1:1', credentials: creds.yaml}\n"
                    "accounts: [accounts.yaml]\n" + extra)  # fmt: skip
    return conf


BROKEN = """tls:
  cert: tls/server.crt
  key: tls/server.key
rsa: {private_key: keys/private.pem, public_key: keys/public.pem}
audit_log: logs/audit.jsonl
"""


def test_check_reports_every_environment_problem_in_one_run(tmp_path: Path, busy_port: int) -> None:
    conf = write_conf(tmp_path, busy_port, BROKEN)
    (tmp_path / "creds.yaml").chmod(0o644)
    done = cli("check", "-c", str(conf))
    assert done.returncode == 1
    err = done.stderr
    assert (
        f"error: {conf}:3: listen.unix: the directory {tmp_path}/sock for the Unix socket does not exist (mkdir -p {tmp_path}/sock)"
        in err
    )
    assert f"error: {conf}:2: listen.tcp[0]: 127.0.0.1:{busy_port}: the port is in use" in err
    assert (
        f"error: {conf}:7: tls.cert: the certificate {tmp_path}/tls/server.crt does not exist; make a self-signed pair with: mkdir -p {tmp_path}/tls && openssl req -x509"
        in err
    )
    assert (
        f"error: {conf}:8: tls.key: the private key {tmp_path}/tls/server.key does not exist" in err
    )
    assert (
        f"error: {conf}:9: rsa.private_key: the directory {tmp_path}/keys for the RSA key generated at start does not exist"
        in err
    )
    assert f"error: {tmp_path}/creds.yaml: holds a secret and is mode 0644" in err
    assert (
        f"error: {conf}:10: audit_log: the directory {tmp_path}/logs for the audit log does not exist"
        in err
    )
    assert f"{conf}: 8 error(s)" in err
    assert "Traceback" not in err


def test_check_passes_once_fixed_and_skip_ports_leaves_the_ports(
    tmp_path: Path, busy_port: int
) -> None:
    conf = write_conf(tmp_path, busy_port)
    (tmp_path / "sock").mkdir()
    done = cli("check", "-c", str(conf), "--skip-ports")
    assert done.returncode == 0, done.stderr
    assert "OK (1 account rows)" in done.stdout
    assert cli("check", "-c", str(conf)).returncode == 1


def test_a_tls_key_readable_by_others_is_refused_by_check_and_serve(tmp_path: Path) -> None:
    from sandbox.certs import make_certs

    certs = make_certs(tmp_path / "tls")
    certs.key.chmod(0o644)
    conf = write_conf(tmp_path, free_port(), f"tls: {{cert: {certs.cert}, key: {certs.key}}}\n")
    (tmp_path / "sock").mkdir()
    for command in ("check", "serve"):
        done = cli(command, "-c", str(conf))
        assert done.returncode == 1
        assert "tls.key: holds a secret and is mode 0644" in done.stderr
        assert "Traceback" not in done.stderr


def rsa_conf(tmp_path: Path, mode: int, gid: int | None = None) -> Path:
    """A configuration with an RSA key pair on disk whose private key has `mode`."""
    from bridge import rsa_keys

    keys = tmp_path / "keys"
    keys.mkdir()
    rsa_keys.load_or_generate(keys / "private.pem", keys / "public.pem")
    (keys / "private.pem").chmod(mode)
    if gid is not None:
        os.chown(keys / "private.pem", -1, gid)
    (tmp_path / "sock").mkdir()
    rsa = "rsa: {private_key: keys/private.pem, public_key: keys/public.pem}\n"
    return write_conf(tmp_path, free_port(), rsa)


def serve_until_ready(conf: Path) -> str:
    """`serve` until it says ready (or exits): its output."""
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "-c", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "bridge.server: ready" in line:
            proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    return "".join(lines)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660])
def test_an_rsa_private_key_others_may_read_is_refused_by_check_and_serve(
    tmp_path: Path, mode: int
) -> None:
    """As sshd refuses such a host key (mysqld checks nothing; its manual asks for 0400)."""
    conf = rsa_conf(tmp_path, mode)
    for command in ("check", "serve"):
        done = cli(command, "-c", str(conf))
        assert done.returncode == 1
        assert (f"{conf}:6: rsa.private_key: holds a secret and is mode {mode:04o}; it must be "
                "0600, or 0640 with the service's group") in done.stderr  # fmt: skip
        assert "Traceback" not in done.stderr


def test_an_rsa_private_key_the_services_group_may_read_is_taken(tmp_path: Path) -> None:
    conf = rsa_conf(tmp_path, 0o640, os.getegid())
    done = cli("check", "-c", str(conf))
    assert done.returncode == 0 and "rsa.private_key" not in done.stderr, done.stderr


def test_an_rsa_private_key_a_foreign_group_may_read_is_warned_about(tmp_path: Path) -> None:
    """Group 'nogroup' (which the bridge does not run in) may read the key: its members are
    who that lets in. Not refused (0640 is the rule), but said by check and serve."""
    foreign = 65534
    assert foreign not in {os.getegid(), *os.getgroups()}
    conf = rsa_conf(tmp_path, 0o640, foreign)
    warning = (f"{conf}:6: rsa.private_key: holds a secret and is readable by its group "
               "nogroup (mode 0640), which the bridge does not run in: every member of nogroup "
               "can read it; chgrp it to the service's group, or chmod 600")  # fmt: skip
    done = cli("check", "-c", str(conf))
    assert done.returncode == 0, done.stderr
    assert f"warning: {warning}" in done.stderr
    log = serve_until_ready(conf)
    assert f"WARNING bridge: {warning}" in log
    assert "bridge.server: ready" in log


def test_the_tls_hint_makes_a_pair_that_serve_takes(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, free_port(), "tls: {cert: tls/server.crt, key: tls/server.key}\n")
    (tmp_path / "sock").mkdir()
    first = cli("check", "-c", str(conf))
    hint = first.stderr.split("make a self-signed pair with: ", 1)[1].splitlines()[0]
    made = subprocess.run(["bash", "-c", hint], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "tls" / "server.key").stat().st_mode & 0o777 == 0o640
    done = cli("check", "-c", str(conf))
    assert done.returncode == 0, done.stderr


def test_serve_refuses_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, free_port(), BROKEN)
    done = cli("serve", "-c", str(conf))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"{conf}:3: listen.unix: the directory {tmp_path}/sock" in done.stderr
    assert f"{conf}:7: tls.cert: the certificate" in done.stderr
    assert f"{conf}:9: rsa.private_key: the directory {tmp_path}/keys" in done.stderr


def test_serve_on_a_busy_port_is_one_clear_line(tmp_path: Path, busy_port: int) -> None:
    conf = write_conf(tmp_path, busy_port)
    (tmp_path / "sock").mkdir()
    done = cli("serve", "-c", str(conf))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        f"mysql-auth-bridge: listen.tcp 127.0.0.1:{busy_port}: cannot listen: Address already in use"
        in done.stderr
    )


def test_a_missing_config_names_the_default_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MYSQL_AUTH_BRIDGE_CONFIG"}
    done = subprocess.run([sys.executable, "-m", "bridge", "check"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 1
    assert (
        "/etc/mysql-auth-bridge/bridge.yaml: cannot read: No such file or directory" in done.stderr
    )
    env["MYSQL_AUTH_BRIDGE_CONFIG"] = str(tmp_path / "elsewhere.yaml")
    done = subprocess.run([sys.executable, "-m", "bridge", "check"], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip
    assert f"{tmp_path}/elsewhere.yaml: cannot read" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_logs_json_with_a_process_title(tmp_path: Path) -> None:
    import json

    conf = write_conf(tmp_path, free_port())
    (tmp_path / "sock").mkdir()
    log = tmp_path / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "-c", str(conf),
                                 "--log-format", "json", "--log-level", "debug"],
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(lambda: b'"ready"' in log.read_bytes(), 20, "bridge")
        title = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
        assert title.startswith(b"mysql-auth-bridge: serve -c " + str(conf).encode())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"ts", "level", "logger", "message"} <= set(entries[0])
    assert any(e["message"] == "ready" and e["level"] == "info" for e in entries)
    assert any(e["level"] == "debug" for e in entries) or len(entries) > 2


def test_help_lists_every_command_with_an_example() -> None:
    from bridge.cli import COMMANDS

    done = cli("--help")
    assert done.returncode == 0
    for name in COMMANDS:
        assert f"\n  {name:<14} " in done.stdout, name
        assert f"mysql-auth-bridge {name}" in done.stdout, name
    assert "serve, check, hash-password" not in done.stdout


def test_demo_refuses_an_explicit_busy_port(busy_port: int) -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sandbox.demo", "--port", str(busy_port)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert f"port {busy_port} is in use; choose another --port" in done.stderr
    assert time.monotonic() - started < 10  # nothing was started


def test_hash_password_from_a_terminal_asks_twice_without_echo() -> None:
    import pty

    from bridge.config import AccountEntry
    from bridge.hashing import parse_sha2

    def run(first: bytes, second: bytes) -> tuple[int, bytes]:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal is its stdin, stdout and controlling tty
            os.execv(sys.executable, [sys.executable, "-m", "bridge", "hash-password"])  # noqa: S606
        output = b""
        for answer in (first, second):
            while b"Password" not in output.rpartition(b"\n")[2]:
                output += os.read(fd, 1024)
            output += b"\n"  # mark the prompt as answered
            os.write(fd, answer + b"\n")
        try:
            while chunk := os.read(fd, 1024):
                output += chunk
        except OSError:  # EIO: the child closed the terminal
            pass
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), output

    code, output = run(b"s3cret-pw", b"s3cret-pw")
    assert code == 0
    assert b"s3cret-pw" not in output  # never echoed
    stored = output.strip().splitlines()[-1].decode()
    assert stored.startswith(("$A$005$", "0x"))
    entry = AccountEntry(user="u", plugin="caching_sha2_password", authentication_string=stored)
    assert parse_sha2(entry.auth_bytes()).matches(b"s3cret-pw")
    code, output = run(b"one", b"two")
    assert code == 1 and b"the two passwords differ" in output


def test_hash_password_reads_stdin_when_it_is_not_a_terminal() -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "hash-password", "--plugin",
                           "mysql_native_password"], input="pw\n", capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.stdout.strip() == hash_text("mysql_native_password", "pw")


@pytest.mark.parametrize("piped", ["pw\npw\n", "pw\r\npw", "pw\n\n"])
def test_hash_password_refuses_more_than_one_line_on_stdin(piped: str) -> None:
    """`printf 'pw\\npw\\n' |`, answering the terminal's two prompts, would hash 'pw\\npw',
    which no client prompt can type: every login would be 1045."""
    done = subprocess.run([sys.executable, "-m", "bridge", "hash-password"], input=piped,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert "holds a line break (two lines?)" in done.stderr and "nothing hashed" in done.stderr


def test_check_reports_every_bad_row_and_every_bad_file(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, free_port())
    (tmp_path / "sock").mkdir()
    (tmp_path / "accounts.yaml").write_text(
        "accounts:\n"
        "  - {user: a, plugin: mysql_native_password, authentication_string: nope}\n"
        "  - {user: b, plugin: parsec}\n"
        "  - {user: c, host: '10.0.0.0/99', plugin: mysql_native_password}\n"
    )
    (tmp_path / "creds.yaml").chmod(0o604)
    done = cli("check", "-c", str(conf))
    assert done.returncode == 1
    accounts = tmp_path / "accounts.yaml"
    assert f"error: {accounts}:2: accounts[0]: a mysql_native_password hash is" in done.stderr
    assert f"error: {accounts}:3: accounts[1]: plugin 'parsec' is not loaded" in done.stderr
    assert f"error: {accounts}:4: accounts[2]:" in done.stderr
    assert f"error: {tmp_path}/creds.yaml: holds a secret and is mode 0604" in done.stderr
    assert f"{conf}: 4 error(s)" in done.stderr


def test_a_problem_with_a_default_names_the_line_of_its_section(tmp_path: Path) -> None:
    """`admin: {}` takes the default listen address: a problem with it (its directory is
    missing) points at the `admin` line, not at the file alone."""
    from bridge.preflight import where

    conf = tmp_path / "bridge.yaml"
    conf.write_text("listen:\n  tcp: ['127.0.0.1:3307']\n\nadmin: {}\n")
    assert where(conf, ("admin", "listen")) == f"{conf}:4"
    assert where(conf, ("listen", "tcp")) == f"{conf}:2"
    assert where(conf, ("metrics", "listen")) == str(conf)  # no such section: the file
