"""Benchmarks: the bridge against a direct connection and HAProxy (TCP mode), one run, one
MariaDB (with TLS). Not a test: it prints figures and ratios (and writes them as JSON with
--json).

Three bridge configurations run side by side against the same MariaDB:
- default: as the bridge ships: upstream TLS preferred (MariaDB offers it, so it is used),
  caching_sha2_password greeting and account row, INFO log, audit file on;
- plain: upstream TLS disabled, mysql_native_password greeting and row, INFO log, audit on;
- quiet: plain with log level WARNING and no audit file, to show what the per-login log
  line and audit record cost (plain against quiet).

(a) relay throughput: sysbench oltp_point_select, 8 client threads
(b) login rate: connect, authenticate, SELECT 1, disconnect (bench/connect.lua), 4 threads
(c) memory: the bridge's RSS growth per idle relayed session, at --sessions sessions

(d) accounts at scale: bench/accounts_scale.py (10,000 account rows: load, `check`, start,
    logins during reloads; an import of 2,000 users), run after the rest (--no-accounts: skip)

For (a) and (b) it also prints the CPU time the bridge (and HAProxy) used per query (user +
system, from /proc/PID/stat before and after the run, over all its processes): microseconds
per relayed query (sysbench's query count), and per login in (b), where every login runs one
`SELECT 1`. Unlike events per second, it hardly moves with what else the machine is doing:
the figure to compare between runs and machines.

Usage: python bench/run.py [--time SECONDS] [--workers N] [--config default|plain|quiet|all]
                           [--sessions N] [--no-accounts] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _root  # noqa: F401  (puts the checkout on sys.path for sandbox/)
import pymysql

from sandbox.bridgeproc import Account, BridgeProcess, run_bridge, write_config
from sandbox.certs import CertSet, make_certs
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, port_open, wait_until

HERE = Path(__file__).parent
USER, PASSWORD, UPSTREAM_PASSWORD = "bench", "bench-pw", "bench-upstream-pw"

# name -> (account plugin and greeting, bridge.yaml sections)
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("caching_sha2_password", {}),
    "plain": (
        "mysql_native_password",
        {
            "upstream": {"tls": {"mode": "disabled"}},
            "server": {"default_auth_plugin": "mysql_native_password"},
        },
    ),
}
CONFIGS["quiet"] = CONFIGS["plain"]
LOGGING = {"log": {"level": "info"}, "audit_log": "audit.jsonl"}  # all but quiet


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


def sysbench(
    test: list[str], port: int, password: str, threads: int, seconds: int
) -> tuple[float, int]:
    """Transactions per second reported by sysbench, and how many queries there were."""
    cmd = ["sysbench", *test, "--db-driver=mysql", "--mysql-host=127.0.0.1",
           f"--mysql-port={port}", f"--mysql-user={USER}", f"--mysql-password={password}",
           "--mysql-db=sbtest", "--mysql-ssl=off", "--tables=1", "--table-size=10000",
           f"--threads={threads}", f"--time={seconds}", "--report-interval=0", "run"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"transactions:\s+\d+\s+\(([\d.]+) per sec", out)
    queries = re.search(r"queries:\s+(\d+)\s+\(", out)
    if not match or not queries:
        raise RuntimeError(f"no rate in sysbench output:\n{out}")
    return float(match.group(1)), int(queries.group(1))


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (the workers)."""
    total = 0.0
    for one in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


@dataclass(frozen=True)
class Parties:
    """CPU seconds (or microseconds per event) of the three parties of a measurement: the
    proxy (the bridge or HAProxy; none when direct), MariaDB and the client (sysbench)."""

    proxy: float
    mariadb: float
    client: float

    @classmethod
    def now(cls, proxy_pid: int | None, mariadb_pid: int) -> Parties:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # sysbench, once it ended
        return cls(
            cpu_seconds(proxy_pid) if proxy_pid else 0.0,
            cpu_seconds(mariadb_pid),
            children.ru_utime + children.ru_stime,
        )

    def minus(self, before: Parties) -> Parties:
        return Parties(
            self.proxy - before.proxy, self.mariadb - before.mariadb, self.client - before.client
        )

    def per_event(self, events: int) -> Parties:
        scale = 1e6 / max(events, 1)
        return Parties(self.proxy * scale, self.mariadb * scale, self.client * scale)

    @property
    def total(self) -> float:
        return self.proxy + self.mariadb + self.client


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def prepare(db: MariaDB, sessions: int) -> None:
    db.sql("CREATE DATABASE IF NOT EXISTS sbtest")
    db.sql(f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{UPSTREAM_PASSWORD}'")
    db.sql(f"GRANT ALL ON sbtest.* TO '{USER}'@'%'")
    db.sql(f"SET GLOBAL max_connections = {max(2000, sessions + 200)}")
    subprocess.run(
        ["sysbench", "oltp_point_select", "--db-driver=mysql", f"--mysql-socket={db.socket}",
         "--mysql-user=root", "--mysql-db=sbtest", "--tables=1", "--table-size=10000", "prepare"],
        check=True, capture_output=True,
    )  # fmt: skip


@contextmanager
def bridge_for(
    name: str, base: Path, db: MariaDB, certs: CertSet, workers: int
) -> Iterator[BridgeProcess]:
    plugin, sections = CONFIGS[name]
    directory = base / f"bridge-{name}"
    port = free_port()
    account = Account(USER, PASSWORD, plugin, upstream_password=UPSTREAM_PASSWORD)
    sections = {**sections, **({} if name == "quiet" else LOGGING)}
    # max_connections as deployed (the default), not the test sandbox's 1000: the memory
    # part holds 2,000 sessions
    sections["server"] = {"default_auth_plugin": plugin, "max_connections": 10000,
                          **sections.get("server", {})}  # fmt: skip
    write_config(directory, port, db.port, certs, [account], **sections)
    extra = ("--workers", str(workers)) if workers > 1 else ()
    bridge = run_bridge(directory, port, certs, extra_args=extra)
    try:
        warm_up(port)  # caching_sha2: the first login fills the fast-auth cache
        yield bridge
    finally:
        bridge.stop()


def warm_up(port: int) -> None:
    conn = pymysql.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                           database="sbtest", ssl_disabled=True)  # fmt: skip
    conn.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def rss_per_session(bridge: BridgeProcess, sessions: int) -> float:
    """KiB of bridge RSS per idle relayed session, at `sessions` sessions at once."""

    def connect(_: int) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(host="127.0.0.1", port=bridge.port, user=USER,
                               password=PASSWORD, database="sbtest", ssl_disabled=True)  # fmt: skip

    warm = [connect(0) for _ in range(20)]  # allocator and caches settle first
    for conn in warm:
        conn.close()
    time.sleep(0.5)
    before = rss_kib(bridge.proc.pid)
    with ThreadPoolExecutor(8) as pool:
        conns = list(pool.map(connect, range(sessions)))
    time.sleep(1.0)
    after = rss_kib(bridge.proc.pid)
    for conn in conns:
        conn.close()
    return (after - before) / sessions


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=1, help="bridge worker processes")
    parser.add_argument("--config", choices=(*CONFIGS, "all"), default="all")
    parser.add_argument("--sessions", type=int, default=2000, help="idle sessions for RSS; 0: skip")
    parser.add_argument("--no-accounts", action="store_true", help="skip (d), accounts at scale")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    names = list(CONFIGS) if args.config == "all" else [args.config]
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-bench-"))
    db = proxy = None
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb", certs=certs)
        prepare(db, args.sessions)
        proxy, proxy_port = haproxy(base, db.port)
        results = run_all(args, names, base, db, certs, (proxy_port, proxy.pid))
        report(results, names)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        if db is not None:
            db.stop()
        if proxy is not None:
            proxy.terminate()
            proxy.wait()
        shutil.rmtree(base, ignore_errors=True)
    if not args.no_accounts:  # its own MariaDB and bridges, once this run's are gone
        print("\n(d) accounts at scale: bench/accounts_scale.py", flush=True)
        return subprocess.run([sys.executable, str(HERE / "accounts_scale.py")]).returncode
    return 0


def run_all(
    args: argparse.Namespace, names: list[str], base: Path, db: MariaDB, certs: CertSet,
    proxy: tuple[int, int],
) -> dict[str, dict[str, float]]:  # fmt: skip
    tests = {  # connect.lua: one query (SELECT 1) per login
        "point_select_8_threads": (["oltp_point_select"], 8),
        "login_rate_4_threads": ([str(HERE / "connect.lua")], 4),
    }
    results: dict[str, dict[str, float]] = {name: {} for name in tests}
    for name in tests:
        for part in ("", "_all", "_mariadb", "_client"):
            results[f"{name}_cpu_us_per_event{part}"] = {}
    results["rss_kib_per_idle_session"] = {}
    with ExitStack() as stack:
        bridges = {n: stack.enter_context(bridge_for(n, base, db, certs, args.workers))
                   for n in names}  # fmt: skip
        targets = {"direct": (db.port, UPSTREAM_PASSWORD),
                   "haproxy": (proxy[0], UPSTREAM_PASSWORD),
                   **{f"bridge_{n}": (b.port, PASSWORD) for n, b in bridges.items()}}  # fmt: skip
        pids = {"haproxy": proxy[1], **{f"bridge_{n}": b.proc.pid for n, b in bridges.items()}}
        for name, (test, threads) in tests.items():
            for target, (port, password) in targets.items():
                pid = pids.get(target)
                before = Parties.now(pid, db.proc.pid)
                rate, events = sysbench(test, port, password, threads, args.time)
                spent = Parties.now(pid, db.proc.pid).minus(before).per_event(events)
                results[name][target] = rate
                results[f"{name}_cpu_us_per_event_all"][target] = spent.total
                results[f"{name}_cpu_us_per_event_mariadb"][target] = spent.mariadb
                results[f"{name}_cpu_us_per_event_client"][target] = spent.client
                line = f"{name:24} {target:16} {rate:10.1f} /s"
                if pid:
                    results[f"{name}_cpu_us_per_event"][target] = spent.proxy
                    unit = "login" if "login" in name else "query"
                    line += f"  {spent.proxy:7.1f} us CPU per {unit}"
                print(line, flush=True)
        if args.sessions and args.workers == 1:
            for n, bridge in bridges.items():
                kib = rss_per_session(bridge, args.sessions)
                results["rss_kib_per_idle_session"][f"bridge_{n}"] = kib
                print(f"rss per idle session     bridge_{n:9} {kib:10.1f} KiB", flush=True)
    return results


def report(results: dict[str, dict[str, float]], names: list[str]) -> None:
    print(f"\n{'benchmark':24} {'direct/s':>10} {'haproxy/s':>10} "
          + " ".join(f"{'bridge_' + n + '/s':>16}" for n in names))  # fmt: skip
    for test in ("point_select_8_threads", "login_rate_4_threads"):
        r = results[test]
        print(f"{test:24} {r['direct']:10.1f} {r['haproxy']:10.1f} "
              + " ".join(f"{r['bridge_' + n]:16.1f}" for n in names))  # fmt: skip
    print(f"\n{'configuration':14} {'relay/haproxy':>14} {'logins/direct':>14} {'logins/s':>9} "
          f"{'CPU us/query':>13} {'CPU us/login':>13} {'KiB/idle session':>17}")  # fmt: skip
    relay, logins = results["point_select_8_threads"], results["login_rate_4_threads"]
    query_cpu = results["point_select_8_threads_cpu_us_per_event"]
    login_cpu = results["login_rate_4_threads_cpu_us_per_event"]
    for n in names:
        key = f"bridge_{n}"
        rss = results["rss_kib_per_idle_session"].get(key)
        print(f"{n:14} {relay[key] / relay['haproxy']:14.2f} "
              f"{logins[key] / logins['direct']:14.2f} {logins[key]:9.0f} "
              f"{query_cpu[key]:13.1f} {login_cpu[key]:13.1f} "
              f"{'-' if rss is None else f'{rss:.1f}':>17}")  # fmt: skip
    print(f"{'(haproxy)':14} {'':14} {'':14} {'':9} {query_cpu['haproxy']:13.1f} "
          f"{login_cpu['haproxy']:13.1f}")  # fmt: skip
    cpu_by_party(results, names)
    if "plain" in names and "quiet" in names:
        cost = 1 - logins["bridge_plain"] / logins["bridge_quiet"]
        extra = login_cpu["bridge_plain"] - login_cpu["bridge_quiet"]
        print(
            f"\nlog line + audit record per login: {cost:.1%} of the login rate, "
            f"{extra:.1f} us CPU (plain against quiet)"
        )


def cpu_by_party(results: dict[str, dict[str, float]], names: list[str]) -> None:
    """Where the machine's CPU goes per login, and the login rate it would allow if CPU were
    all that limits it: all cores busy (cores x 1 s / the CPU of a login), and for a single
    bridge process, one core busy (1 s / its CPU per login; with --workers 1)."""
    test = "login_rate_4_threads"
    rates, cores = results[test], os.cpu_count() or 1
    print(f"\nCPU per login by party (us; {cores} cores), and the ceilings it sets, as ratios "
          "to the direct rate:")  # fmt: skip
    print(f"{'target':16} {'client':>8} {'MariaDB':>8} {'proxy':>8} {'total':>8} "
          f"{'measured':>9} {'all cores':>10} {'one core':>12}")  # fmt: skip
    for target in ["direct", "haproxy", *(f"bridge_{n}" for n in names)]:
        client = results[f"{test}_cpu_us_per_event_client"][target]
        mariadb = results[f"{test}_cpu_us_per_event_mariadb"][target]
        total = results[f"{test}_cpu_us_per_event_all"][target]
        proxy = total - client - mariadb
        direct = rates["direct"]
        machine = cores * 1e6 / total / direct
        single = f"{1e6 / max(proxy, 1e-9) / direct:.2f}" if target.startswith("bridge") else "-"
        print(f"{target:16} {client:8.1f} {mariadb:8.1f} {proxy:8.1f} {total:8.1f} "
              f"{rates[target] / direct:9.2f} {machine:10.2f} {single:>12}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
