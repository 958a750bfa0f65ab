"""The audit file of a real bridge started outside systemd (a shell's umask 022, where the
unit's UMask=0077 does not hide the mode): created 0640, since its records name users and
client addresses; an existing file keeps the mode the admin gave it, and one every user
may read is warned of at start and on reload (docs/operations.md)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator

import pytest

from sandbox.bridgeproc import run_bridge
from tests.integration.harness import Bridge, MakeBridge, closing, connect, mariadb_cli, scalar

pytestmark = pytest.mark.integration


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The bridge inherits the umask of the process that starts it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(bridge: Bridge) -> int:
    return stat.S_IMODE((bridge.directory / "audit.jsonl").stat().st_mode)


def test_the_bridge_creates_its_audit_file_0640(make_bridge: MakeBridge, umask_022: None) -> None:
    bridge = make_bridge(audit_log="audit.jsonl")
    with closing(connect("pymysql", bridge, "app", "app-pw")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "app@%"
    assert mariadb_cli(bridge, "nat", "wrong").returncode == 1
    bridge.wait_log("access denied: user='nat'")
    assert mode(bridge) == 0o640
    records = [json.loads(line) for line in bridge.audit_text().splitlines()]
    assert [(r["user"], r["result"]) for r in records][-2:] == [("app", "ok"), ("nat", "denied")]
    assert "every user of this host may read" not in bridge.log


def test_a_world_readable_audit_file_keeps_its_mode_and_is_warned_of(
    make_bridge: MakeBridge, umask_022: None
) -> None:
    bridge = make_bridge(audit_log="audit.jsonl")
    path = bridge.directory / "audit.jsonl"
    path.chmod(0o644)  # as an older bridge (or a `touch`) left it
    assert bridge.reload()  # a reload reopens the file (log rotation)
    bridge.wait_log(f"the audit log {path} has mode 0644: every user of this host may read it")
    with closing(connect("pymysql", bridge, "app", "app-pw")) as conn:
        assert scalar(conn, "SELECT 1") == 1
    assert mode(bridge) == 0o644  # the admin's choice is not undone
    assert '"user":"app"' in bridge.audit_text()
    bridge.stop()
    again = run_bridge(bridge.directory, bridge.port, bridge.certs)  # serve's start says it too
    try:
        again.wait_log(f"audit_log: the audit log {path} has mode 0644: every user")
        assert mode(again) == 0o644
    finally:
        again.stop()
