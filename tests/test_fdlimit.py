"""The open-files limit against server.max_connections: `serve` raises its soft limit as
far as the hard one allows and warns (as mysqld does) when that is not enough; `check` says
so too. Real processes under `prlimit`, their limits read from /proc."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from bridge.fdlimit import RESERVE, FileBudget
from sandbox.ports import free_port
from tests.test_preflight import write_conf


def test_the_budget_counts_two_per_session_one_per_handshake_and_the_pool() -> None:
    budget = FileBudget(sessions=1000, handshakes=100, pooled=50)
    assert budget.needed == 2000 + 100 + 50 + RESERVE
    assert budget.shortfall(budget.needed) is None
    assert budget.sessions_within(budget.needed) == 1000
    assert budget.sessions_within(budget.needed - 2) == 999
    problem = budget.shortfall(1024)
    assert problem is not None and "about 405 sessions fit" in problem


def limited(soft: int, hard: int, *args: str) -> list[str]:
    return ["prlimit", f"--nofile={soft}:{hard}", sys.executable, "-m", "bridge", *args]


def config(tmp_path: Path, max_connections: int) -> Path:
    (tmp_path / "sock").mkdir()
    server = f"server: {{max_connections: {max_connections}, max_unauthenticated: 100}}\n"
    return write_conf(tmp_path, free_port(), server)


def test_check_warns_when_the_hard_limit_is_too_low(tmp_path: Path) -> None:
    conf = config(tmp_path, 10000)
    done = subprocess.run(limited(1024, 4096, "check", "-c", str(conf)), capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr  # a warning, not an error
    assert (f"warning: {conf}:6: server.max_connections: the open-files limit is 4096 but "
            "server.max_connections 10000 needs about 20420") in done.stderr  # fmt: skip
    assert "about 1838 sessions fit" in done.stderr


def test_check_is_quiet_when_the_hard_limit_allows_it(tmp_path: Path) -> None:
    conf = config(tmp_path, 1000)  # 2420 needed: the soft 1024 is raised by serve
    done = subprocess.run(limited(1024, 4096, "check", "-c", str(conf)), capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "open-files" not in done.stderr


def serve_limits(conf: Path, soft: int, hard: int) -> tuple[str, int]:
    """Start serve under prlimit, until it is ready: (its log, its soft limit then)."""
    log = conf.parent / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(limited(soft, hard, "serve", "-c", str(conf)), stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "INFO bridge.server: ready" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    return log.read_text(), int(line.split()[3])


def test_serve_raises_its_soft_limit_to_what_max_connections_needs(tmp_path: Path) -> None:
    conf = config(tmp_path, 3000)
    log, soft = serve_limits(conf, 1024, 8000)  # unprivileged: the hard limit stays
    assert soft == 6420  # 2 x 3000 + 100 handshakes + 256 pooled + 64
    assert "open-files limit raised from 1024 to 6420 (hard limit 8000)" in log
    assert "open-files limit is" not in log  # no warning: the hard limit allows it


def test_serve_warns_when_the_hard_limit_is_too_low(tmp_path: Path) -> None:
    conf = config(tmp_path, 10000)
    log, soft = serve_limits(conf, 1024, 4096)
    assert soft == 4096  # as far as it could
    assert (f"WARNING bridge: {conf}:6: server.max_connections: the open-files limit is 4096 "
            "but server.max_connections 10000 needs about 20420") in log  # fmt: skip
    assert "about 1838 sessions fit" in log


def soft_limit(pid: int) -> int:
    limits = Path(f"/proc/{pid}/limits").read_text()
    return int(next(x for x in limits.splitlines() if x.startswith("Max open files")).split()[3])


def wait_for(log: Path, text: str, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while log.read_text().count(text) < count:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def test_a_reload_that_raises_max_connections_raises_the_limit_or_warns(tmp_path: Path) -> None:
    """SIGHUP to a serve started under a hard limit of 8000: 1000 sessions (2420 files) at
    start, 3000 (6420) after one reload, raised as at start; 10000 (20420) after the next,
    as far as the hard limit and the same warning as at start, and the reload applies."""
    conf = config(tmp_path, 1000)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(limited(1024, 8000, "serve", "-c", str(conf)), stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(log, "INFO bridge.server: ready", 1, proc)
        assert soft_limit(proc.pid) == 2420
        for reloads, sessions in enumerate((3000, 10000), start=1):
            text = conf.read_text().replace("max_connections: 1000", f"max_connections: {sessions}")
            conf.write_text(text.replace("max_connections: 3000", f"max_connections: {sessions}"))
            proc.send_signal(signal.SIGHUP)
            wait_for(log, "configuration reloaded", reloads, proc)
            if sessions == 3000:
                assert soft_limit(proc.pid) == 6420
                assert (
                    "open-files limit raised from 2420 to 6420 (hard limit 8000)" in log.read_text()
                )
                assert "open-files limit is" not in log.read_text()
        assert soft_limit(proc.pid) == 8000  # as far as it could
        assert "open-files limit raised from 6420 to 8000 (hard limit 8000)" in log.read_text()
        assert (f"WARNING bridge: {conf}:6: server.max_connections: the open-files limit is 8000 "
                "but server.max_connections 10000 needs about 20420") in log.read_text()  # fmt: skip
        assert "about 3790 sessions fit" in log.read_text()
        assert "reload failed" not in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
