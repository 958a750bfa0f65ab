"""`check` and the state section: warnings where per-process state weakens protection,
errors for a key file serve would refuse."""

from __future__ import annotations

import os
from pathlib import Path

from tests.test_cli import cli, conf  # noqa: F401 - the fixture


def test_check_warns_about_memory_state_with_workers_or_a_load_balancer(conf: Path) -> None:  # noqa: F811
    done = cli("check", "-c", str(conf), "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "--workers 2 with state.backend memory" in done.stderr
    assert "proxy_protocol_from" not in done.stderr
    conf.write_text(conf.read_text() + "listen: {proxy_protocol_from: [127.0.0.1/32]}\n")
    done = cli("check", "-c", str(conf))
    assert "listen.proxy_protocol_from is set" in done.stderr and "--workers" not in done.stderr


def test_check_with_redis_state_reads_the_key_file(conf: Path) -> None:  # noqa: F811
    key = conf.parent / "fast-auth.key"
    key.write_bytes(os.urandom(8))
    key.chmod(0o600)
    conf.write_text(conf.read_text() + "state: {backend: redis, url: 'redis://127.0.0.1:1', "
                    "fast_auth_key_file: fast-auth.key}\n")  # fmt: skip
    done = cli("check", "-c", str(conf), "--workers", "4")
    assert done.returncode == 1 and "needs at least 32 random bytes" in done.stderr
    key.write_bytes(os.urandom(32))
    done = cli("check", "-c", str(conf), "--workers", "4")
    assert done.returncode == 0, done.stderr
    assert "state.backend memory" not in done.stderr
    key.chmod(0o644)
    done = cli("check", "-c", str(conf))
    assert done.returncode == 1 and "fast-auth.key: holds a secret and is mode 0644" in done.stderr
