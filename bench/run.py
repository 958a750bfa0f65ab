"""Benchmarks: the bridge against a direct connection and HAProxy (TCP mode), one run, one
MariaDB. Not a test: it prints figures and ratios (and writes them as JSON with --json).

(a) relay throughput: sysbench oltp_point_select, 8 client threads
(b) login rate: connect, authenticate, SELECT 1, disconnect (bench/connect.lua), 4 threads

Usage: python bench/run.py [--time SECONDS] [--workers N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bridge.sandbox.bridgeproc import Account, run_bridge, write_config
from bridge.sandbox.certs import make_certs
from bridge.sandbox.mariadb import MariaDB
from bridge.sandbox.ports import free_port, port_open, wait_until

HERE = Path(__file__).parent
USER, PASSWORD, UPSTREAM_PASSWORD = "bench", "bench-pw", "bench-upstream-pw"


def haproxy(base: Path, upstream_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = base / "haproxy.cfg"
    config.write_text(
        "global\n  maxconn 4096\n"
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
        f"listen mysql\n  bind 127.0.0.1:{port}\n  server db 127.0.0.1:{upstream_port}\n"
    )
    proc = subprocess.Popen(["haproxy", "-f", str(config)], stdout=subprocess.DEVNULL)
    wait_until(lambda: port_open(port), 10, "haproxy")
    return proc, port


def sysbench(test: list[str], port: int, password: str, threads: int, seconds: int) -> float:
    """Transactions per second reported by sysbench."""
    cmd = ["sysbench", *test, "--db-driver=mysql", "--mysql-host=127.0.0.1",
           f"--mysql-port={port}", f"--mysql-user={USER}", f"--mysql-password={password}",
           "--mysql-db=sbtest", "--mysql-ssl=off", "--tables=1", "--table-size=10000",
           f"--threads={threads}", f"--time={seconds}", "--report-interval=0", "run"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"transactions:\s+\d+\s+\(([\d.]+) per sec", out)
    if not match:
        raise RuntimeError(f"no rate in sysbench output:\n{out}")
    return float(match.group(1))


def prepare(db: MariaDB) -> None:
    db.sql("CREATE DATABASE IF NOT EXISTS sbtest")
    db.sql(f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{UPSTREAM_PASSWORD}'")
    db.sql(f"GRANT ALL ON sbtest.* TO '{USER}'@'%'")
    db.sql("SET GLOBAL max_connections = 2000")
    subprocess.run(
        ["sysbench", "oltp_point_select", "--db-driver=mysql", f"--mysql-socket={db.socket}",
         "--mysql-user=root", "--mysql-db=sbtest", "--tables=1", "--table-size=10000", "prepare"],
        check=True, capture_output=True,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=1, help="bridge worker processes")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-bench-"))
    db = proxy = bridge = None
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb")
        prepare(db)
        proxy, proxy_port = haproxy(base, db.port)
        port = free_port()
        account = Account(
            USER, PASSWORD, "mysql_native_password", upstream_password=UPSTREAM_PASSWORD
        )
        # Like for like: the upstream leg without TLS, as the direct and HAProxy connections
        # are; and the greeting offers the plugin the account has (no AuthSwitch round trip),
        # as a DBA whose accounts are mysql_native_password would configure it.
        write_config(base / "bridge", port, db.port, certs, [account],
                     upstream={"tls": {"mode": "disabled"}}, log={"level": "warning"},
                     server={"default_auth_plugin": "mysql_native_password"})  # fmt: skip
        workers = ("--workers", str(args.workers)) if args.workers > 1 else ()
        bridge = run_bridge(base / "bridge", port, certs, extra_args=workers)
        targets = {
            "direct": (db.port, UPSTREAM_PASSWORD),
            "haproxy": (proxy_port, UPSTREAM_PASSWORD),
            "bridge": (port, PASSWORD),
        }
        tests = {
            "point_select_8_threads": (["oltp_point_select"], 8),
            "login_rate_4_threads": ([str(HERE / "connect.lua")], 4),
        }
        results: dict[str, dict[str, float]] = {}
        for name, (test, threads) in tests.items():
            results[name] = {}
            for target, (target_port, password) in targets.items():
                results[name][target] = sysbench(test, target_port, password, threads, args.time)
                print(f"{name:24} {target:8} {results[name][target]:10.1f} /s", flush=True)
        report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        for proc in (bridge, db):
            if proc is not None:
                proc.stop()
        if proxy is not None:
            proxy.terminate()
            proxy.wait()
        shutil.rmtree(base, ignore_errors=True)


def report(results: dict[str, dict[str, float]]) -> None:
    print(f"\n{'benchmark':24} {'direct/s':>10} {'haproxy/s':>10} {'bridge/s':>10} "
          f"{'bridge/direct':>14} {'bridge/haproxy':>15} {'haproxy/direct':>15}")  # fmt: skip
    for name, r in results.items():
        print(f"{name:24} {r['direct']:10.1f} {r['haproxy']:10.1f} {r['bridge']:10.1f} "
              f"{r['bridge'] / r['direct']:14.2f} {r['bridge'] / r['haproxy']:15.2f} "
              f"{r['haproxy'] / r['direct']:15.2f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
