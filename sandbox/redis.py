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
        log = self.base / "redis.log"
        seen = log.stat().st_size if log.exists() else 0
        proc = self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def ready() -> bool:  # its own "ready" line: an open port may be another process
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self._log_from(seen)[-2000:]}")
            return "Ready to accept connections" in self._log_from(seen) and port_open(self.port)

        wait_until(ready, 10, "redis-server")

    def _log_from(self, offset: int) -> str:
        try:
            with (self.base / "redis.log").open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)
        self.proc = None
