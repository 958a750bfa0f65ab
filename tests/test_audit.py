"""The audit writer: records in order, off the caller's thread, none lost on close, a full
disk (/dev/full) keeps them in memory (bounded) and retries."""

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import audit
from bridge.audit import Attempt, AuditLog
from bridge.logfmt import name_worker


def attempt(user: str) -> Attempt:
    return Attempt("login", 1, "127.0.0.1", "tcp", user, result="ok")


def users(path: Path) -> list[str]:
    return [json.loads(line)["user"] for line in path.read_text().splitlines()]


def test_records_reach_the_file_in_order_and_close_writes_all(tmp_path: Path) -> None:
    log = AuditLog(str(tmp_path / "audit.jsonl"))
    for i in range(2000):
        log.write(attempt(f"u{i}"))
    log.close()
    assert users(tmp_path / "audit.jsonl") == [f"u{i}" for i in range(2000)]


def test_retarget_reopens_and_keeps_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    log = AuditLog(str(first))
    log.write(attempt("before"))
    first.rename(tmp_path / "a.jsonl.1")  # logrotate moves the file, then the bridge reloads
    log.retarget(str(first))
    log.write(attempt("after"))
    log.retarget(str(second))
    log.write(attempt("third"))
    log.close()
    assert users(tmp_path / "a.jsonl.1") == ["before"]
    assert users(first) == ["after"]
    assert users(second) == ["third"]


def test_full_disk_keeps_records_until_the_file_can_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = AuditLog("/dev/full")  # every write fails with ENOSPC
    with caplog.at_level(logging.ERROR, logger="bridge.audit"):
        for i in range(5):
            log.write(attempt(f"u{i}"))
        target = tmp_path / "audit.jsonl"
        log.retarget(str(target))  # space again (here: another file)
        log.close()
    assert users(target) == [f"u{i}" for i in range(5)]
    assert log.dropped == 0
    assert "cannot write" in caplog.text


def test_full_disk_bounds_what_is_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "MAX_PENDING", 2)
    log = AuditLog("/dev/full")
    for i in range(5):
        log.write(attempt(f"u{i}"))
    log.close()
    assert log.dropped == 3


def test_log_target_sends_the_json_line_to_the_logger(caplog: pytest.LogCaptureFixture) -> None:
    log = AuditLog("log")
    with caplog.at_level(logging.INFO, logger="bridge.audit"):
        log.write(attempt("alice"))
    log.close()
    (record,) = [r for r in caplog.records if r.name == "bridge.audit"]
    assert json.loads(record.getMessage())["user"] == "alice"


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The umask of a shell outside systemd (the unit's UMask=0077 hides the file mode)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_audit_file_is_created_0640_not_world_readable(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    with caplog.at_level(logging.WARNING, logger="bridge.audit"):
        log = AuditLog(str(path))
        log.write(attempt("alice"))
        log.close()
    assert mode(path) == 0o640
    assert users(path) == ["alice"]
    assert caplog.records == []


def test_a_stricter_umask_makes_it_stricter(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        AuditLog(str(tmp_path / "audit.jsonl")).close()
    finally:
        os.umask(old)
    assert mode(tmp_path / "audit.jsonl") == 0o600


@pytest.mark.parametrize(
    ("existing", "warned"), [(0o644, True), (0o606, True), (0o640, False), (0o600, False)]
)
def test_an_existing_file_keeps_its_mode_and_a_world_readable_one_is_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, existing: int, warned: bool
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(existing)
    with caplog.at_level(logging.WARNING, logger="bridge.audit"):
        log = AuditLog(str(path))  # serve's preflight warns at start (tests/test_cli.py)
        assert caplog.records == []
        log.retarget(str(path))  # a reload (log rotation): the bridge warns itself
        log.close()
    assert mode(path) == existing  # the admin's chmod is not undone
    said = [r.getMessage() for r in caplog.records]
    if warned:
        assert said == [
            f"the audit log {path} has mode {existing:04o}: every user of this host may read "
            f"it (it names users and client addresses): chmod o-rwx {path} (the bridge creates "
            "it 0640)"
        ]
    else:
        assert said == []


def test_a_worker_of_serve_workers_names_itself_after_the_time(tmp_path: Path) -> None:
    name_worker(2)
    try:
        log = AuditLog(str(tmp_path / "audit.jsonl"))
        log.write(attempt("alice"))
        log.close()
    finally:
        name_worker(None)
    entry = json.loads((tmp_path / "audit.jsonl").read_text())
    assert list(entry)[:3] == ["time", "worker", "event"]
    assert (entry["worker"], entry["user"]) == (2, "alice")
    single = attempt("bob").record(0.0, 0.0)  # one process: no worker field at all
    assert "worker" not in single and single["user"] == "bob"
