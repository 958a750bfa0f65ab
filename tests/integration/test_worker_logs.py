"""Under `serve --workers N` every log line and audit record of a worker names it
(`worker=i` in the text log, `"worker": i` in JSON, the same index as the admin commands');
one process names none. A session's worker is known from its connection id: worker i
hands out i+1, i+1+N, ... (bridge/registry.py), so each line is checked against the id it
names, and logins go on until both workers have served one."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.bridgeproc import BridgeProcess, run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from tests.integration.harness import ACCOUNTS, connect, scalar

pytestmark = pytest.mark.integration

WORKERS = 2


def _serve(directory: Path, mariadb: MariaDB, certs: CertSet, workers: int,
           log_format: str, audit_log: str) -> BridgeProcess:  # fmt: skip
    port = free_port()
    write_config(directory, port, mariadb.port, certs, ACCOUNTS, None,
                 log={"format": log_format}, audit_log=audit_log)  # fmt: skip
    extra = ("--workers", str(workers)) if workers > 1 else ()
    bridge = run_bridge(directory, port, certs, None, extra)
    if workers > 1:
        bridge.wait_log(f"{workers} workers ready")
    return bridge


def _worker_of(connection_id: int) -> int:
    return (connection_id - 1) % WORKERS


def _log_in_until_every_worker_served(bridge: BridgeProcess) -> set[int]:
    """PyMySQL logins (TCP: the kernel picks the worker) until each worker served one;
    the ids of the sessions."""
    ids: set[int] = set()
    for _ in range(64):
        with contextlib.closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
            ids.add(conn.thread_id())
        if {_worker_of(i) for i in ids} == set(range(WORKERS)):
            return ids
    raise AssertionError(f"the kernel never spread 64 logins over the workers: ids {ids}")


def _wait_for_sessions(bridge: BridgeProcess, ids: set[int]) -> None:
    for conn_id in ids:
        bridge.wait_log(f"conn={conn_id} session open")


def test_text_log_and_audit_file_name_the_worker(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    bridge = _serve(tmp_path, mariadb, certs, WORKERS, "text", "audit.jsonl")
    try:
        ids = _log_in_until_every_worker_served(bridge)
        _wait_for_sessions(bridge, ids)
        log = bridge.log
        audit = [json.loads(line) for line in bridge.audit_text().splitlines()]
    finally:
        bridge.stop()
    named: dict[int, int] = {}  # connection id -> the worker its session-open line names
    for found in re.finditer(r" bridge\.session: worker=(\d+) conn=(\d+) session open", log):
        named[int(found[2])] = int(found[1])
    assert named == {i: _worker_of(i) for i in ids}, log
    # Every line a worker wrote names it; the parent's own (start, ready) name none.
    for line in log.splitlines():
        if " conn=" in line:
            assert re.search(r" (INFO|DEBUG|WARNING|ERROR) [\w.]+: worker=[01] conn=", line), line
    assert re.search(r" INFO bridge\.workers: 2 workers ready", log), log
    assert {r["connection_id"]: r["worker"] for r in audit} == {i: _worker_of(i) for i in ids}
    assert {r["worker"] for r in audit} == {0, 1}
    assert all(list(r)[:2] == ["time", "worker"] and r["result"] == "ok" for r in audit), audit


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_log_and_audit_to_the_log_name_the_worker(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    bridge = _serve(tmp_path, mariadb, certs, WORKERS, "json", "log")
    try:
        ids = _log_in_until_every_worker_served(bridge)
        _wait_for_sessions(bridge, ids)
        entries = _json_lines(bridge.log)
    finally:
        bridge.stop()
    opened = {}
    for entry in entries:
        found = re.match(r"conn=(\d+) session open", entry["message"])
        if found:
            assert list(entry) == ["ts", "level", "logger", "worker", "message"], entry
            opened[int(found[1])] = entry["worker"]
    assert opened == {i: _worker_of(i) for i in ids}
    records = [(e["worker"], json.loads(e["message"])) for e in entries
               if e["logger"] == "bridge.audit"]  # fmt: skip
    assert {r["connection_id"]: (w, r["worker"]) for w, r in records} == {
        i: (_worker_of(i), _worker_of(i)) for i in ids
    }
    ready = [e for e in entries if e["message"] == "2 workers ready"]
    assert len(ready) == 1 and "worker" not in ready[0], ready  # the parent is no worker


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_one_process_names_no_worker(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, log_format: str
) -> None:
    bridge = _serve(tmp_path, mariadb, certs, 1, log_format, "audit.jsonl")
    try:
        with contextlib.closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
            conn_id = conn.thread_id()
        bridge.wait_log(f"conn={conn_id} session open")
        log = bridge.log
        audit = [json.loads(line) for line in bridge.audit_text().splitlines()]
    finally:
        bridge.stop()
    assert "worker" not in log, log
    if log_format == "json":
        opened = [e for e in _json_lines(log) if "session open" in e["message"]]
        assert [list(e) for e in opened] == [["ts", "level", "logger", "message"]]
    assert [(r["connection_id"], "worker" in r) for r in audit] == [(conn_id, False)]
