"""Does an LDAP login's refusal tell an unknown name from a wrong password by its timing?

The setup docs/security.md recommends: an anonymous row with a group mapping, so the bridge
searches the directory for the name. PyMySQL logs in over TLS through the bridge, many times,
in a shuffled order: a directory user with a wrong password, and names the directory does not
have. The same against a real slapd and against a real Samba AD DC, and for slapd also a
`+suffix` row (no search: a bind as `uid=<name>,<suffix>`, reached from 127.0.0.2). A wrong
password straight to the same MariaDB is measured in the same run as the reference.

Prints, per case, the median and the 90th percentile (ms), and for each directory the ratio
of the unknown name's median to the wrong password's (1.00: no difference) and of each to
the direct login. Not a test: figures only. The AD lockout threshold is set to 0 in its
throwaway domain (else the wrong passwords would lock the user after 3 and the figures
would measure the lockout).

Usage: python bench/ldap_timing.py [--samples N] [--directory slapd|ad|both]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _root  # noqa: F401  (puts the checkout on sys.path for sandbox/)
import pymysql

from sandbox.bridgeproc import Account, BridgeProcess, add_grants, run_bridge, write_config
from sandbox.certs import CertSet, make_certs
from sandbox.ldap import BASE, PEOPLE, SERVICE_DN, Person, Slapd
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from sandbox.samba import BASE as AD_BASE
from sandbox.samba import AdGroup, AdUser, SambaDC

SERVICE_PW = "bench-service-pw"
AD_SERVICE = AdUser("svc-bench", "Svc-bench-pw-1")
AD_USER = AdUser("alice", "Alice-bench-pw-1", groups=("dbadmins",))
MAPPING = "#dbadmins=developer"
SUFFIX_HOST = "127.0.0.2"  # the +suffix row's host: logins from there get it


@dataclass(frozen=True)
class Case:
    name: str
    login: Callable[[], float]  # the time of one refused login, in ms


def refused_ms(port: int, user: str, password: str, ca: Path | None, source: str = "") -> float:
    """One login that must be refused; its time from connect to the ERR, in ms."""
    extra: dict[str, Any] = {"ssl": {"ca": str(ca)}} if ca else {}
    if source:
        extra["bind_address"] = source
    started = time.perf_counter()
    try:
        pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, **extra)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] != 1045:
            raise
        return (time.perf_counter() - started) * 1000
    raise RuntimeError(f"{user!r} logged in: the benchmark expects a refusal")


def bridge_for(base: Path, db: MariaDB, certs: CertSet, ldap: dict[str, Any],
               rows: list[Account]) -> BridgeProcess:  # fmt: skip
    port = free_port()
    write_config(base, port, db.port, certs, rows, {"developer": "up-dev"},
                 backends={"ldap": ldap}, log={"level": "warning"})  # fmt: skip
    grants = [{"proxy": f"''@'{r.host}'", "proxied": ["'developer'@'%'"]} for r in rows]
    add_grants(base / "accounts.yaml", grants)
    return run_bridge(base, port, certs)


def secret_file(path: Path, text: str) -> str:
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return str(path)


def slapd_cases(base: Path, db: MariaDB, certs: CertSet) -> tuple[list[Case], list[Any]]:
    slapd = Slapd.start(base / "slapd", certs, [Person("alice", "alice-pw", ("dbadmins",))],
                        SERVICE_PW)  # fmt: skip
    ldap = {"servers": [slapd.tls_url], "ca": str(certs.ca), "bind_dn": SERVICE_DN,
            "bind_password_file": secret_file(base / "slapd.secret", SERVICE_PW),
            "base_dn": BASE}  # fmt: skip
    rows = [Account("", "", "authentication_ldap_simple", auth_string=MAPPING),
            Account("", "", "authentication_ldap_simple", host=SUFFIX_HOST,
                    auth_string=f"+{PEOPLE}{MAPPING}")]  # fmt: skip
    bridge = bridge_for(base / "bridge-slapd", db, certs, ldap, rows)
    port, ca = bridge.port, certs.ca
    cases = [
        Case("slapd search: wrong password", lambda: refused_ms(port, "alice", "nope", ca)),
        Case("slapd search: unknown name", lambda: refused_ms(port, unknown(), "nope", ca)),
        Case("slapd +suffix: wrong password",
             lambda: refused_ms(port, "alice", "nope", ca, SUFFIX_HOST)),
        Case("slapd +suffix: unknown name",
             lambda: refused_ms(port, unknown(), "nope", ca, SUFFIX_HOST)),
    ]  # fmt: skip
    return cases, [bridge, slapd]


def ad_cases(base: Path, db: MariaDB, certs: CertSet) -> tuple[list[Case], list[Any]]:
    dc = SambaDC.start(base / "samba", [AD_SERVICE, AD_USER], [AdGroup("dbadmins")])
    dc.set_attribute(AD_BASE, lockoutThreshold=0)  # see the docstring
    ldap = {"servers": [dc.ldaps_url], "ca": str(dc.certs.ca), "bind_dn": AD_SERVICE.dn,
            "bind_password_file": secret_file(base / "ad.secret", AD_SERVICE.password),
            "base_dn": AD_BASE, "user_search_attr": "sAMAccountName",
            "group_search_filter": "(&(objectClass=group)(member={dn}))",
            "connect_timeout": 5, "response_timeout": 10}  # fmt: skip
    rows = [Account("", "", "authentication_ldap_simple", auth_string=MAPPING)]
    bridge = bridge_for(base / "bridge-ad", db, certs, ldap, rows)
    port, ca = bridge.port, certs.ca
    cases = [
        Case("AD search: wrong password", lambda: refused_ms(port, "alice", "Nope-1", ca)),
        Case("AD search: unknown name", lambda: refused_ms(port, unknown(), "Nope-1", ca)),
    ]
    return cases, [bridge, dc]


def unknown() -> str:
    return f"nosuch{random.randrange(10**6)}"


def run(cases: list[Case], samples: int) -> dict[str, list[float]]:
    for case in cases:  # warm up: connections, caches, the bridge's timing windows
        for _ in range(10):
            case.login()
    times: dict[str, list[float]] = {c.name: [] for c in cases}
    for _ in range(samples):
        for case in random.sample(cases, len(cases)):
            times[case.name].append(case.login())
    return times


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def report(times: dict[str, list[float]], direct: float) -> None:
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:34s} median {median:7.2f} ms  p90 {p90(values):7.2f} ms  "
              f"x direct {median / direct:5.2f}")  # fmt: skip
    names = list(times)
    for wrong, unknown_name in zip(names[::2], names[1::2], strict=True):
        ratio = statistics.median(times[unknown_name]) / statistics.median(times[wrong])
        print(f"  ratio {unknown_name!r} / {wrong!r}: {ratio:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--directory", choices=["slapd", "ad", "both"], default="both")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-bench-ldap-timing-"))
    parts: list[Any] = []
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb", certs=certs)
        parts.append(db)
        db.sql("CREATE USER IF NOT EXISTS 'developer'@'%' IDENTIFIED BY 'up-dev'")
        cases: list[Case] = []
        for wanted, make in (("slapd", slapd_cases), ("ad", ad_cases)):
            if args.directory in (wanted, "both"):
                more, started = make(base, db, certs)
                cases += more
                parts += started
        direct = run([Case("direct MariaDB: wrong password",
                           lambda: refused_ms(db.port, "developer", "nope", certs.ca))],
                     args.samples)  # fmt: skip
        times = run(cases, args.samples)
        reference = statistics.median(next(iter(direct.values())))
        print(f"{args.samples} samples per case, PyMySQL over TLS, shuffled rounds")
        print(f"{'direct MariaDB: wrong password':34s} median {reference:7.2f} ms  "
              f"p90 {p90(next(iter(direct.values()))):7.2f} ms")  # fmt: skip
        report(times, reference)
        return 0
    finally:
        for part in reversed(parts):
            part.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
