"""A reload reads the files in a child process (bridge/reloadproc.py): the same rows,
credentials and error messages as reading them in process; a child that fails or cannot
start; the running configuration kept whenever the new one is not taken. In process,
with a BridgeServer and no upstream."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge import reloadproc
from bridge import server as server_module
from bridge.config import ConfigError
from bridge.hashing import make_native, to_text
from bridge.mapping.hosts import client_host
from bridge.runtime import build_runtime
from bridge.server import BridgeServer
from sandbox.ports import free_port

HASH = to_text(make_native(b"pw"))
HOSTS = ("%", "10.%", "localhost", "192.168.1.0/255.255.255.0", "")


def write_files(directory: Path, rows: int) -> Path:
    """bridge.yaml, `rows` account rows over several host patterns (more than one frame's
    worth), a PROXY grant, and upstream credentials for every user."""
    lines = ["accounts:"]
    for i in range(rows):
        user, host = (f"u{i}", HOSTS[i % len(HOSTS)]) if i % 7 else ("", f"10.{i}.%")
        lines.append(f"  - {{user: '{user}', host: '{host}', plugin: mysql_native_password, "
                     f"authentication_string: '{HASH}'}}")  # fmt: skip
    lines += ["proxy_grants:", "  - {proxy: \"'u1'@'10.%'\", proxied: [\"'u2'@'%'\"]}"]
    (directory / "accounts.yaml").write_text("\n".join(lines) + "\n")
    creds = directory / "creds.yaml"
    creds.write_text("".join(f"u{i}: {{password: p{i}}}\n" for i in range(rows) if i % 7))
    os.chmod(creds, 0o600)
    (directory / "bridge.yaml").write_text(
        f"listen: {{tcp: ['127.0.0.1:{free_port()}']}}\n"
        f"upstream: {{credentials: creds.yaml, address: '127.0.0.1:{free_port()}'}}\n"
        "accounts: [accounts.yaml]\n"
    )
    return directory / "bridge.yaml"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[BridgeServer]:
    server = BridgeServer(build_runtime(write_files(tmp_path, 40)))
    await server.start()
    try:
        yield server
    finally:
        server.stop()
        await server.drain()


def in_process_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving process must not read the files itself."""

    def refuse(path: Path) -> Any:
        raise AssertionError("the files were read in the serving process")

    monkeypatch.setattr(server_module, "read_files", refuse)


async def test_the_child_hands_over_what_reading_in_process_gives(
    running: BridgeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_process_only(monkeypatch)
    config = write_files(tmp_path, 2 * reloadproc.ROWS_PER_FRAME + 77)
    expected = build_runtime(config, inspect_only=True)
    interval = sys.getswitchinterval()
    assert await running.reload(), running.last_reload_error
    got = running.runtime
    assert got.accounts.rows == expected.accounts.rows  # every field, in search order
    assert got.credentials == expected.credentials
    assert got.grants == expected.grants
    assert got.decoy_plugins == expected.decoy_plugins
    assert got.config == expected.config
    for user, ip in (("u1", "10.0.0.1"), ("u8", "192.168.1.9"), ("nobody", "10.1.2.3")):
        client = client_host(ip, True)
        assert got.accounts.match(user, client) == expected.accounts.match(user, client)
    assert got.accounts.find("u2", "10.%") == expected.accounts.find("u2", "10.%")
    assert sys.getswitchinterval() == interval


async def test_a_broken_file_is_the_message_check_gives_and_the_old_config_stays(
    running: BridgeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_process_only(monkeypatch)
    before = running.runtime
    interval = sys.getswitchinterval()
    accounts = tmp_path / "accounts.yaml"
    text = accounts.read_text().replace(HASH, "*nothex", 1)
    accounts.write_text(text.replace("accounts:\n", "accounts:\n  - {user: x, plugin: nope}\n"))
    with pytest.raises(ConfigError) as in_process:
        build_runtime(running.runtime.config_path, inspect_only=True)
    assert not await running.reload()
    assert running.runtime is before
    assert running.last_reload_error == str(in_process.value)
    assert "accounts[1]: a mysql_native_password hash is" in str(in_process.value)
    assert "plugin 'nope'" in str(in_process.value)  # every bad row, not only the first
    assert sys.getswitchinterval() == interval


async def test_a_failed_reload_is_one_log_line_with_every_error(
    running: BridgeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = tmp_path / "accounts.yaml"
    text = accounts.read_text().replace(HASH, "*nothex", 1)
    accounts.write_text(text.replace("accounts:\n", "accounts:\n  - {user: x, plugin: nope}\n"))
    with caplog.at_level(logging.ERROR, logger="bridge.server"):
        assert not await running.reload()
    (record,) = [r for r in caplog.records if "reload failed" in r.getMessage()]
    line = record.getMessage()
    assert "\n" not in line
    assert "a mysql_native_password hash is" in line and "plugin 'nope'" in line


async def test_a_reload_says_which_settings_wait_for_a_restart(
    running: BridgeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """listen.tcp changed: the reload is taken (the rest applies), the bridge keeps the
    address it has, and the log says so; a second reload without changes says nothing."""
    old_port = running.runtime.config.listen.tcp[0]
    config = tmp_path / "bridge.yaml"
    text = config.read_text()
    new_port = f"127.0.0.1:{free_port()}"
    config.write_text(
        text.replace(old_port, new_port).replace("accounts:", "log: {level: debug}\naccounts:")
    )
    with caplog.at_level(logging.WARNING, logger="bridge.server"):
        assert await running.reload(), running.last_reload_error
    assert (
        "reload: listen.tcp, log changed; the running values stay until the next restart"
        in caplog.text
    )
    host, port = old_port.rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))  # still listening there
    writer.close()
    config.write_text(text)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bridge.server"):
        assert await running.reload()
    assert "next restart" not in caplog.text


async def test_after_a_reload_moved_listen_unix_the_stop_removes_the_socket_it_bound(
    tmp_path: Path,
) -> None:
    """The new path may be another service's socket: it is left alone, and the bridge's
    own socket goes, as the reload's warning ('the running values stay') promises."""
    config = write_files(tmp_path, 3)
    mine, theirs = tmp_path / "bridge.sock", tmp_path / "other.sock"
    text = config.read_text()
    config.write_text(text.replace("listen: {", f"listen: {{unix: {mine}, "))
    server = BridgeServer(build_runtime(config))
    await server.start()
    try:
        assert mine.exists()
        theirs.write_text("another service's socket")
        config.write_text(text.replace("listen: {", f"listen: {{unix: {theirs}, "))
        assert await server.reload(), server.last_reload_error
    finally:
        server.stop()
        await server.drain()
    assert theirs.exists() and not mine.exists()


async def test_a_child_that_dies_is_a_failed_reload_that_says_how(
    running: BridgeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        reloadproc, "_CHILD", "import sys; sys.stderr.write('out of memory\\n'); sys.exit(3)"
    )
    before = running.runtime
    with caplog.at_level(logging.ERROR):
        assert not await running.reload()
    assert running.runtime is before
    error = running.last_reload_error or ""
    assert error.endswith("the process reading the files ended (exit code 3): out of memory")
    assert "reload failed, keeping the running configuration" in caplog.text


async def test_without_a_child_the_reload_reads_in_a_thread(
    running: BridgeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    write_files(tmp_path, 60)
    with caplog.at_level(logging.WARNING):
        assert await running.reload(), running.last_reload_error
    assert len(running.runtime.accounts.rows) == 60
    assert "cannot start a process to read the files" in caplog.text
    assert "reading them in a thread instead" in caplog.text


async def test_a_cancelled_reload_ends_its_child(
    running: BridgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reloadproc, "_CHILD", "import time; time.sleep(60)")
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def recording(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", recording)  # reloadproc calls subprocess.Popen
    task = asyncio.ensure_future(running.reload())
    while not started:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert started[0].poll() is not None  # killed and reaped, not left behind


async def test_the_child_does_not_import_from_the_working_directory(
    running: BridgeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its module path is the serving process's, not whatever directory it runs in."""
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "yaml.py").write_text("raise SystemExit('imported from the working directory')\n")
    monkeypatch.chdir(planted)
    in_process_only(monkeypatch)
    assert await running.reload(), running.last_reload_error


async def test_a_child_that_never_answers_is_stopped_and_the_old_config_stays(
    running: BridgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reloadproc, "CHILD_DEADLINE", 0.5)
    monkeypatch.setattr(reloadproc, "_CHILD", "import time; time.sleep(60)")
    before = running.runtime
    assert not await running.reload()
    assert running.runtime is before
    assert "did not finish in 0 s" in (running.last_reload_error or "")
    monkeypatch.undo()  # the next reload is not queued behind the stopped one
    assert await running.reload(), running.last_reload_error


async def test_code_changed_since_start_is_a_failed_reload_that_says_restart(
    running: BridgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reloadproc, "STARTED_WITH", "the code of an older version")
    before = running.runtime
    assert not await running.reload()
    assert running.runtime is before
    assert "code changed since it started" in (running.last_reload_error or "")
    assert "restart it" in (running.last_reload_error or "")
