"""LDAP login rate: 16 concurrent clients log in through the bridge as LDAP users (sysbench,
bench/connect.lua, over the bridge's Unix socket so that TLS and RSA costs stay out), against
the same directory work done directly with ldap3: per login, a search for the user's DN as
the service account, a simple bind as the user on a new connection, and a group search.
Same slapd, same run. Not a test: it prints figures and the ratio.

Usage: python bench/ldap_logins.py [--time SECONDS] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import _root  # noqa: F401  (puts the checkout on sys.path for sandbox/)
import ldap3

from bench.sysbench_connect import socket_login_rate
from sandbox.bridgeproc import Account, add_grants, run_bridge, write_config
from sandbox.certs import make_certs
from sandbox.ldap import BASE, SERVICE_DN, Person, Slapd
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port

PASSWORD = "bench-ldap-pw"


def direct_rate(url: str, ca: str, threads: int, seconds: float) -> float:
    tls = ldap3.Tls(ca_certs_file=ca)
    server = ldap3.Server(url, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    count = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        safe = ldap3.SAFE_SYNC
        service = ldap3.Connection(server, SERVICE_DN, "service-pw", client_strategy=safe)
        service.bind()
        done = 0
        while time.monotonic() < deadline:
            _, _, found, _ = service.search(
                BASE, "(uid=benchuser)", attributes=[ldap3.NO_ATTRIBUTES]
            )
            user = ldap3.Connection(
                server, found[0]["dn"], PASSWORD, client_strategy=ldap3.SAFE_SYNC
            )
            assert user.bind()[0]
            user.unbind()
            service.search(
                BASE, "(&(objectClass=posixGroup)(memberUid=benchuser))", attributes=["cn"]
            )
            done += 1
        with lock:
            count[0] += done

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return count[0] / seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", type=int, default=10)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-bench-ldap-"))
    db = slapd = bridge = None
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb")
        db.sql("SET GLOBAL max_connections = 2000")
        db.sql("CREATE DATABASE IF NOT EXISTS sbtest")
        db.sql("CREATE USER IF NOT EXISTS 'developer'@'%' IDENTIFIED BY 'up-dev'")
        db.sql("GRANT ALL ON sbtest.* TO 'developer'@'%'")
        slapd = Slapd.start(
            base / "ldap", certs, [Person("benchuser", PASSWORD, ("dbadmins",))], "service-pw"
        )
        secret = base / "bind.secret"
        secret.write_text("service-pw\n")
        os.chmod(secret, 0o600)
        ldap = {"servers": [slapd.tls_url], "ca": str(certs.ca), "bind_dn": SERVICE_DN,
                "bind_password_file": str(secret), "base_dn": BASE,
                "group_search_filter": "(&(objectClass=posixGroup)(memberUid={user}))"}  # fmt: skip
        port = free_port()
        accounts = [
            Account("", "", "authentication_ldap_simple", auth_string="#dbadmins=developer")
        ]
        write_config(base / "bridge", port, db.port, certs, accounts, {"developer": "up-dev"},
                     backends={"ldap": ldap}, upstream={"tls": {"mode": "disabled"}},
                     log={"level": "warning"})  # fmt: skip
        add_grants(
            base / "bridge" / "accounts.yaml", [{"proxy": "''@'%'", "proxied": ["'developer'@'%'"]}]
        )
        bridge = run_bridge(base / "bridge", port, certs)
        through = socket_login_rate(bridge.socket, "benchuser", PASSWORD, args.threads, args.time)
        print(
            f"logins through the bridge:  {through:9.1f} /s  ({args.threads} clients, sysbench)",
            flush=True,
        )
        direct = direct_rate(slapd.tls_url, str(certs.ca), args.threads, args.time)
        print(f"direct ldap3 search+bind+groups: {direct:9.1f} /s  ({args.threads} threads)")
        print(f"ratio bridge/direct: {through / direct:.2f}")
        return 0
    finally:
        for part in (bridge, slapd, db):
            if part is not None:
                part.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
