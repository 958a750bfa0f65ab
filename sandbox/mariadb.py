"""A throwaway MariaDB server on a free loopback port, state in a temp dir."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.certs import CertSet
from sandbox.ports import free_port, wait_until
from sandbox.process import stop_process


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if found:
            return found
    raise FileNotFoundError(f"none of {names} is installed (apt-get install mariadb-server)")


@dataclass
class MariaDB:
    base: Path
    port: int
    socket: Path
    proc: subprocess.Popen[bytes] = field(repr=False)
    certs: CertSet | None = None

    @classmethod
    def start(
        cls, base: Path, certs: CertSet | None = None, performance_schema: bool = False
    ) -> MariaDB:
        base.mkdir(parents=True, exist_ok=True)
        data = base / "data"
        if not data.exists():
            subprocess.run(
                [_binary("mariadb-install-db", "mysql_install_db"), "--no-defaults",
                 "--user=root", f"--datadir={data}", "--auth-root-authentication-method=normal",
                 "--skip-test-db"],
                check=True, capture_output=True,
            )  # fmt: skip
        port = free_port()
        sock = base / "mysqld.sock"
        args = [
            _binary("mariadbd", "mysqld"), "--no-defaults", "--user=root", f"--datadir={data}",
            f"--port={port}", "--bind-address=127.0.0.1", f"--socket={sock}",
            f"--pid-file={base / 'mysqld.pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
            f"--log-error={base / 'error.log'}", "--max-allowed-packet=64M",
            f"--performance-schema={'ON' if performance_schema else 'OFF'}",
        ]  # fmt: skip
        if certs is not None:
            args += [f"--ssl-ca={certs.ca}", f"--ssl-cert={certs.cert}", f"--ssl-key={certs.key}"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = cls(base, port, sock, proc, certs)
        wait_until(server.alive, 30, "MariaDB")
        return server

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            log = (self.base / "error.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mariadbd exited with {self.proc.returncode}:\n{log}")
        done = subprocess.run(
            [_binary("mariadb-admin", "mysqladmin"), "--no-defaults", "-uroot",
             f"--socket={self.socket}", "ping"],
            capture_output=True,
        )  # fmt: skip
        return done.returncode == 0

    def sql(self, statement: str) -> str:
        done = subprocess.run(
            [_binary("mariadb", "mysql"), "--no-defaults", "-uroot", f"--socket={self.socket}",
             "-N", "-B", "-e", statement],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    def stop(self) -> None:
        stop_process(self.proc, 30)
