"""A throwaway redis-server on a free loopback port: no persistence, state in a temp dir.
`stop()` and `start_again()` on the same port let a test take the engine away mid-run."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.ports import free_port, port_open, wait_until
from sandbox.process import stop_process


def _binary() -> str:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if found is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    return found


@dataclass
class RedisServer:
    base: Path
    port: int
    password: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, base: Path, password: str | None = None) -> RedisServer:
        base.mkdir(parents=True, exist_ok=True)
        server = cls(base, free_port(), password)
        server.start_again()
        return server

    def start_again(self) -> None:
        """Start (again) on the same port: empty, as a restarted server without persistence."""
        args = [_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.base), "--logfile",
                str(self.base / "redis.log"), "--protected-mode", "no"]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.port), 10, "redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)
        self.proc = None
