"""Login rate with shared state in Redis (`state.backend: redis`) against in-process state
(`memory`), and a direct login to the same MariaDB, in one run. Not a test: it prints figures
and ratios.

Two bridges, the same accounts and settings but the state backend, throttling on (failed-
login delays and locks, so every login runs the throttle's check and success scripts), one
throwaway redis-server on loopback. Each event is sysbench's connect, SELECT 1, disconnect
(bench/connect.lua), over TCP without TLS, 4 threads:
- mysql_native_password: throttle check + success per login;
- caching_sha2_password: the same, plus the fast-auth cache read (the first login of the
  run is a full authentication over RSA; every later one is fast auth from the cache).

Usage: python bench/state_logins.py [--time SECONDS]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import _root  # noqa: F401  (puts the checkout on sys.path for sandbox/)

from bench.ed25519_logins import login_rate
from sandbox.bridgeproc import Account, run_bridge, write_config
from sandbox.certs import make_certs
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from sandbox.redis import RedisServer

ACCOUNTS = {
    "mysql_native_password": Account(
        "bench_nat", "nat-pw", "mysql_native_password", upstream_password="up-nat-pw"
    ),
    "caching_sha2_password": Account(
        "bench_sha2", "sha2-pw", "caching_sha2_password", upstream_password="up-sha2-pw"
    ),
}
PROTECTION = {"failed_login_threshold": 5, "failed_login_attempts": 10, "lock_time": 60}


def start_bridge(base: Path, name: str, db: MariaDB, certs: object, state: Mapping[str, object],
                 accounts_text: str | None) -> tuple[object, int]:  # fmt: skip
    port = free_port()
    directory = base / name
    write_config(directory, port, db.port, certs, list(ACCOUNTS.values()),  # type: ignore[arg-type]
                 upstream={"tls": {"mode": "disabled"}}, log={"level": "warning"},
                 protection=PROTECTION, state=state)  # fmt: skip
    if accounts_text is not None:  # the same rows (salts) as the other bridge
        (directory / "accounts.yaml").write_text(accounts_text)
    return run_bridge(directory, port, certs), port  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", type=int, default=10, help="seconds per measurement")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-bench-state-"))
    running: list[object] = []
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb")
        running.append(db)
        db.sql("SET GLOBAL max_connections = 2000")
        for a in ACCOUNTS.values():
            db.sql(f"CREATE USER '{a.user}'@'%' IDENTIFIED BY '{a.upstream_password}'")
        redis = RedisServer.start(base / "redis")
        running.append(redis)
        key = base / "fast-auth.key"
        key.write_bytes(os.urandom(32))
        key.chmod(0o600)
        shared = {"backend": "redis", "url": redis.url, "fast_auth_key_file": str(key)}
        memory, memory_port = start_bridge(base, "memory", db, certs, {"backend": "memory"}, None)
        running.append(memory)
        text = (base / "memory" / "accounts.yaml").read_text()
        bridge, redis_port = start_bridge(base, "redis", db, certs, shared, text)
        running.append(bridge)
        print(f"{'account':24} {'direct/s':>9} {'memory/s':>9} {'redis/s':>9} "
              f"{'memory/direct':>14} {'redis/direct':>13} {'redis/memory':>13}")  # fmt: skip
        for plugin, a in ACCOUNTS.items():
            direct = login_rate(db.port, a.user, a.upstream_password, args.time)
            in_memory = login_rate(memory_port, a.user, a.password, args.time)
            in_redis = login_rate(redis_port, a.user, a.password, args.time)
            print(f"{plugin:24} {direct:9.1f} {in_memory:9.1f} {in_redis:9.1f} "
                  f"{in_memory / direct:14.2f} {in_redis / direct:13.2f} "
                  f"{in_redis / in_memory:13.2f}", flush=True)  # fmt: skip
        return 0
    finally:
        for proc in reversed(running):
            proc.stop()  # type: ignore[attr-defined]
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
