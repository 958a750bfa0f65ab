"""`serve --workers N` after the start: a worker that dies (SIGKILL, as the OOM killer
sends it) is started again with the files as the others have them, its KILL registry
entries wiped, the other worker's sessions untouched; one that dies again at once ends the
service with exit code 1 (systemd's Restart=on-failure then starts it afresh)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sandbox.bridgeproc import BridgeProcess, run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, wait_until
from tests.integration.harness import ACCOUNTS, connect, error_of

pytestmark = pytest.mark.integration


def _status(bridge: BridgeProcess) -> list[dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "bridge", "status", "--json", "-c",
                           str(bridge.config)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode in (0, 2), done.stderr
    reports: list[dict[str, Any]] = json.loads(done.stdout)
    return reports


def _pids(bridge: BridgeProcess) -> dict[int, int]:
    return {r["worker"]: r["pid"] for r in _status(bridge)}


def _answers_with_new_pid(bridge: BridgeProcess, worker: int, old: int) -> bool:
    with contextlib.suppress(AssertionError, json.JSONDecodeError):
        return _pids(bridge).get(worker, old) != old
    return False


def _refused(user: str, password: str, bridge: BridgeProcess) -> int:
    try:
        connect("pymysql", bridge, user, password, "tcp").close()
    except pymysql.MySQLError as exc:
        return error_of(exc)[0]
    return 0


def test_a_worker_killed_after_start_is_started_again(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    port = free_port()
    write_config(tmp_path, port, mariadb.port, certs, ACCOUNTS, None,
                 admin={"listen": f"unix:{tmp_path}/admin.sock"})  # fmt: skip
    bridge = run_bridge(tmp_path, port, certs, None, ("--workers", "2"))
    try:
        _restarted_once(bridge)
        again = _pids(bridge)[1]  # dying again at once: a restart does not cure it
        os.kill(again, signal.SIGKILL)
        assert bridge.proc.wait(timeout=60) == 1
        assert re.search(rf"worker 1 \(pid {again}\) was killed by SIGKILL again within 10 s "
                         r"of its restart: stopping the other workers", bridge.log)  # fmt: skip
    finally:
        bridge.stop()


def _restarted_once(bridge: BridgeProcess) -> None:
    """Worker 1 killed with sessions on both workers: started again as described above."""
    conns: list[Any] = []
    try:
        bridge.wait_log("2 workers ready")
        # A reload drops 'fresh': the restarted worker must not bring the start's row back.
        bridge.write_accounts([a.row() for a in ACCOUNTS if a.user != "fresh"])
        assert bridge.reload()
        conns = [connect("pymysql", bridge, "nat", "nat-pw", "tcp") for _ in range(16)]
        on_worker = {w: [c for c in conns if c.thread_id() % 2 != w] for w in (0, 1)}
        assert on_worker[0] and on_worker[1], "the kernel never spread the connections"
        victim, survivor = on_worker[1][0].thread_id(), on_worker[0][0]

        old = _pids(bridge)[1]
        os.kill(old, signal.SIGKILL)
        bridge.wait_log(f"worker 1 (pid {old}) was killed by SIGKILL; its sessions are gone; "
                        "starting it again")  # fmt: skip
        wait_until(lambda: _answers_with_new_pid(bridge, 1, old), 20, "worker 1 again")
        assert bridge.proc.poll() is None

        # The other worker's session goes on; the dead one's id is no longer in the registry
        # (a KILL of it is not sent upstream, where its thread id may be someone else's).
        with survivor.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
            with pytest.raises(pymysql.MySQLError) as refused:
                cur.execute(f"KILL {victim}")
        assert error_of(refused.value)[0] == 1094
        assert f"KILL {victim}: running" not in bridge.log

        parity = set()
        for _ in range(16):  # both workers serve again, and neither lets 'fresh' in
            with contextlib.closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as c:
                parity.add(c.thread_id() % 2)
            assert _refused("fresh", "fresh-pw", bridge) == 1045
        assert parity == {0, 1}
        # The restarted worker reads the files first, and its lines name it as before.
        after = bridge.log.split(f"(pid {old}) was killed")[1]
        assert "bridge.server: worker=1 configuration reloaded" in after
    finally:
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
