"""MariaDB's ed25519 login rate: the bridge (client_ed25519 on the client leg, and an
upstream account that MariaDB checks with ed25519) against a direct login to the same
MariaDB with the same kind of account, in one run; mysql_native_password alongside for
scale. Not a test: it prints figures and ratios.

Each event is sysbench's connect, SELECT 1, disconnect (bench/connect.lua), over TCP
without TLS on both legs, 4 threads.

Usage: python bench/ed25519_logins.py [--time SECONDS]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import _root  # noqa: F401  (puts the checkout on sys.path for sandbox/)

from sandbox.bridgeproc import Account, run_bridge, write_config
from sandbox.certs import make_certs
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port

HERE = Path(__file__).parent
ACCOUNTS = {
    "ed25519": Account("bench_ed", "ed-pw", "ed25519", upstream_password="up-ed-pw"),
    "mysql_native_password": Account(
        "bench_nat", "nat-pw", "mysql_native_password", upstream_password="up-nat-pw"
    ),
}


def login_rate(port: int, user: str, password: str, seconds: int) -> float:
    cmd = ["sysbench", str(HERE / "connect.lua"), "--db-driver=mysql", "--mysql-host=127.0.0.1",
           f"--mysql-port={port}", f"--mysql-user={user}", f"--mysql-password={password}",
           "--mysql-db=information_schema", "--mysql-ssl=off", "--threads=4",
           f"--time={seconds}", "--report-interval=0", "run"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sysbench failed:\n{done.stdout[-1500:]}{done.stderr[-500:]}")
    out = done.stdout
    match = re.search(r"transactions:\s+\d+\s+\(([\d.]+) per sec", out)
    if not match:
        raise RuntimeError(f"no rate in sysbench output:\n{out}")
    return float(match.group(1))


def prepare(db: MariaDB) -> None:
    db.sql("INSTALL SONAME 'auth_ed25519'")
    db.sql("SET GLOBAL max_connections = 2000")
    for plugin, a in ACCOUNTS.items():
        how = f"VIA ed25519 USING PASSWORD('{a.upstream_password}')"
        if plugin != "ed25519":
            how = f"BY '{a.upstream_password}'"
        db.sql(f"CREATE USER '{a.user}'@'%' IDENTIFIED {how}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", type=int, default=10, help="seconds per measurement")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-bench-ed25519-"))
    db = bridge = None
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb")
        prepare(db)
        port = free_port()
        write_config(base / "bridge", port, db.port, certs, list(ACCOUNTS.values()),
                     upstream={"tls": {"mode": "disabled"}}, log={"level": "warning"},
                     server={"default_auth_plugin": "mysql_native_password"})  # fmt: skip
        bridge = run_bridge(base / "bridge", port, certs)
        print(f"{'method':24} {'direct/s':>10} {'bridge/s':>10} {'bridge/direct':>14}")
        for plugin, a in ACCOUNTS.items():
            direct = login_rate(db.port, a.user, a.upstream_password, args.time)
            through = login_rate(port, a.user, a.password, args.time)
            print(f"{plugin:24} {direct:10.1f} {through:10.1f} {through / direct:14.2f}",
                  flush=True)  # fmt: skip
        return 0
    finally:
        for proc in (bridge, db):
            if proc is not None:
                proc.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
