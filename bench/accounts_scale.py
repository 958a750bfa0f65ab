"""Accounts at scale: 10,000 account rows and an import of 2,000 users. Not a test: it
prints timings.

- load: build_runtime on the config (parse + validate every file), in this process
- check: `mysql-auth-bridge check` as a DBA runs it (a new process)
- start: `mysql-auth-bridge serve` until it listens
- reload: the slowest of the logins made in a loop while SIGHUP reloads run (and the
  slowest with no reload, for comparison), and how long a reload took
- import-sql: 2,000 CREATE USER statements -> an accounts file; then `check` on it

Usage: python bench/accounts_scale.py [--rows N] [--import-users N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _root  # noqa: F401  (puts the checkout on sys.path for sandbox/)
import pymysql
import yaml

from bridge.hashing import make_native, to_text
from bridge.runtime import build_runtime
from sandbox.bridgeproc import Account, BridgeProcess, run_bridge, write_config
from sandbox.certs import make_certs
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port

USER, PASSWORD, UPSTREAM_PASSWORD = "bench", "bench-pw", "bench-upstream-pw"
HOSTS = ("%", "10.%", "192.168.1.0/255.255.255.0", "localhost", "app%.example.com")


def many_rows(count: int) -> list[dict[str, str]]:
    """`count` rows: users u0..uN over a mix of host patterns, plus a few anonymous rows."""
    auth = to_text(make_native(b"not-the-password"))
    rows = [{"user": f"u{i}", "host": HOSTS[i % len(HOSTS)], "plugin": "mysql_native_password",
             "authentication_string": auth} for i in range(count - 3)]  # fmt: skip
    anonymous = ("10.1.%", "192.168.%", "%.example")
    rows += [{"user": "", "host": h, "plugin": "mysql_native_password",
              "authentication_string": auth} for h in anonymous]  # fmt: skip
    return rows


def timed(command: list[str]) -> str:
    """Wall-clock seconds and the CPU seconds the command used (on a shared machine the
    wall clock includes waiting for a core)."""
    started, cpu = time.monotonic(), _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{command} failed:\n{done.stderr[-2000:]}")
    return f"{time.monotonic() - started:8.2f} s (CPU {_children_cpu() - cpu:.2f} s)"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bridge", *args]


def login_loop(port: int, stop: threading.Event, times: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        conn = pymysql.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                               ssl_disabled=True, connect_timeout=30)  # fmt: skip
        conn.close()
        times.append(time.monotonic() - started)


def reload(bridge: BridgeProcess, timeout: float = 60) -> float:
    """SIGHUP, then the seconds until the log says how it went. Only the log's new bytes
    are read: this thread shares the GIL with the login loop's, whose logins it must not
    slow down (BridgeProcess.reload reads and decodes the whole log, megabytes of login
    lines, on every poll)."""
    log = bridge.directory / "bridge.log"
    with log.open("rb") as reader:
        reader.seek(0, os.SEEK_END)
        started, seen = time.monotonic(), b""
        bridge.proc.send_signal(signal.SIGHUP)
        while time.monotonic() - started < timeout:
            seen = seen[-100:] + reader.read()
            if b"configuration reloaded" in seen:
                return time.monotonic() - started
            if b"reload failed" in seen:
                raise RuntimeError(f"reload failed:\n{bridge.log[-2000:]}")
            time.sleep(0.02)
    raise RuntimeError(f"no reload within {timeout} s")


def slowest_login(bridge: BridgeProcess, reloads: int, seconds: float) -> tuple[float, int, float]:
    """The slowest login, the number of logins, and the mean time a reload took."""
    times: list[float] = []
    took: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=login_loop, args=(bridge.port, stop, times))
    thread.start()
    try:
        if reloads:
            took = [reload(bridge) for _ in range(reloads)]
        else:
            time.sleep(seconds)
    finally:
        stop.set()
        thread.join()
    return max(times), len(times), sum(took) / len(took) if took else 0.0


def import_sql_file(base: Path, users: int) -> Path:
    sql = base / "users.sql"
    with sql.open("w") as out:
        for i in range(users):
            out.write(f"CREATE USER `imp{i}`@`%` IDENTIFIED BY PASSWORD "
                      f"'{to_text(make_native(b'x'))}';\n")  # fmt: skip
    return sql


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--import-users", type=int, default=2_000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-accounts-"))
    db = bridge = None
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb")
        db.sql(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{UPSTREAM_PASSWORD}'")
        directory, port = base / "bridge", free_port()
        account = Account(USER, PASSWORD, "mysql_native_password",
                          upstream_password=UPSTREAM_PASSWORD)  # fmt: skip
        config = write_config(directory, port, db.port, certs, [account],
                              upstream={"tls": {"mode": "disabled"}})  # fmt: skip
        rows = [account.row(), *many_rows(args.rows - 1)]
        (directory / "accounts.yaml").write_text(yaml.safe_dump({"accounts": rows}))
        creds = directory / "upstream-credentials.yaml"  # every row can log in as itself
        names = {row["user"] for row in rows if row["user"]}
        creds.write_text(yaml.safe_dump({n: {"password": UPSTREAM_PASSWORD} for n in names}))
        print(f"account rows              {len(rows):8d}")
        started, cpu = time.monotonic(), time.process_time()
        runtime = build_runtime(config, inspect_only=True)
        print(f"load + validate (in-proc) {time.monotonic() - started:8.2f} s "
              f"(CPU {time.process_time() - cpu:.2f} s)")  # fmt: skip
        assert len(runtime.accounts.rows) == len(rows)
        print(f"check                     {timed(cli('check', '-c', str(config)))}")
        started = time.monotonic()
        bridge = run_bridge(directory, port, certs)
        print(f"start (until listening)   {time.monotonic() - started:8.2f} s")
        worst, count, _ = slowest_login(bridge, 0, 5)
        print(f"slowest login, no reload  {worst * 1000:8.1f} ms ({count} logins)")
        worst, count, reload_time = slowest_login(bridge, 3, 0)
        print(f"slowest login, 3 reloads  {worst * 1000:8.1f} ms ({count} logins; "
              f"a reload took {reload_time:.2f} s)")  # fmt: skip
        sql, output = import_sql_file(base, args.import_users), directory / "imported.yaml"
        took = timed(cli("import-sql", str(sql), "-o", str(output)))
        print(f"import-sql {args.import_users} users     {took}")
        config.write_text(config.read_text().replace("accounts.yaml", "imported.yaml"))
        imported = {f"imp{i}": {"password": "x"} for i in range(args.import_users)}
        creds.write_text(yaml.safe_dump(imported))
        print(f"check on the import       {timed(cli('check', '-c', str(config)))}")
        return 0
    finally:
        for proc in (bridge, db):
            if proc is not None:
                proc.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
