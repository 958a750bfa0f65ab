"""One sysbench run of bench/connect.lua (connect, SELECT 1, disconnect) over a Unix socket:
the login rate the LDAP and OpenID Connect benchmarks measure."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def socket_login_rate(socket: Path, user: str, password: str, threads: int, seconds: int) -> float:
    cmd = ["sysbench", str(HERE / "connect.lua"), "--db-driver=mysql", f"--mysql-socket={socket}",
           f"--mysql-user={user}", f"--mysql-password={password}", "--mysql-ssl=off",
           f"--threads={threads}", f"--time={seconds}", "--report-interval=0", "run"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    match = re.search(r"transactions:\s+\d+\s+\(([\d.]+) per sec", done.stdout)
    if done.returncode or not match:
        raise RuntimeError(f"sysbench failed:\n{done.stdout}\n{done.stderr}")
    return float(match.group(1))
