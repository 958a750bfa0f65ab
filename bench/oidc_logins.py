"""OpenID Connect login rate: N concurrent clients (sysbench, bench/connect.lua: connect, SELECT
1, disconnect) log in through the bridge's Unix socket with an ID token from a real provider
(oidc-provider) as the password, mapped by group through the anonymous row; against the
same clients logging in to MariaDB directly with a password, and through the bridge with a
stored caching_sha2_password hash. Same run, same machine. Not a test: it prints figures and
the ratios. Needs `npm ci --prefix tests/node` (scripts/install-deps does it).

Usage: python bench/oidc_logins.py [--time SECONDS] [--threads N]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import _root  # noqa: F401  (puts the checkout on sys.path for sandbox/)

from bench.sysbench_connect import socket_login_rate
from sandbox.bridgeproc import Account, add_grants, run_bridge, write_config
from sandbox.certs import make_certs
from sandbox.mariadb import MariaDB
from sandbox.oidc import OidcProvider
from sandbox.ports import free_port


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--time", type=int, default=10)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-bench-oidc-"))
    db = idp = bridge = None
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb")
        db.sql("SET GLOBAL max_connections = 2000")
        db.sql("CREATE DATABASE IF NOT EXISTS sbtest")
        for user in ("developer", "app"):
            db.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'up-{user}'")
            db.sql(f"GRANT ALL ON sbtest.* TO '{user}'@'%'")
        people = {"benchuser": {"preferred_username": "benchuser", "groups": ["dbadmins"]}}
        idp = OidcProvider.start(base / "idp", certs, people)
        token = idp.id_token("benchuser")
        provider = {"name": "corp", "issuer": idp.issuer, "audience": "mysql-bridge",
                    "ca": str(certs.ca), "identity_claim": "preferred_username",
                    "groups_claim": "groups"}  # fmt: skip
        accounts = [
            Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app"),
            Account("", "", "authentication_openid_connect",
                    auth_string='{"identity_provider": "corp", "mapping": "dbadmins=developer"}'),
        ]  # fmt: skip
        port = free_port()
        write_config(base / "bridge", port, db.port, certs, accounts, {"developer": "up-developer"},
                     backends={"oidc": {"providers": [provider]}},
                     upstream={"tls": {"mode": "disabled"}}, log={"level": "warning"})  # fmt: skip
        add_grants(base / "bridge" / "accounts.yaml",
                   [{"proxy": "''@'%'", "proxied": ["'developer'@'%'"]}])  # fmt: skip
        bridge = run_bridge(base / "bridge", port, certs)
        print(f"ID token: {len(token)} bytes, RS256", flush=True)
        oidc = socket_login_rate(bridge.socket, "benchuser", token, args.threads, args.time)
        print(f"bridge, token as password:   {oidc:9.1f} logins/s ({args.threads} clients)",
              flush=True)  # fmt: skip
        store = socket_login_rate(bridge.socket, "app", "app-pw", args.threads, args.time)
        print(f"bridge, stored sha2 hash:    {store:9.1f} logins/s", flush=True)
        direct = socket_login_rate(db.socket, "app", "up-app", args.threads, args.time)
        print(f"MariaDB directly, password:  {direct:9.1f} logins/s", flush=True)
        print(f"ratio token-through-bridge / direct: {oidc / direct:.2f}")
        print(f"ratio token / stored hash (both through the bridge): {oidc / store:.2f}")
        return 0
    finally:
        for part in (bridge, idp, db):
            if part is not None:
                part.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
