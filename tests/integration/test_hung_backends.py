"""A backend that hangs (SIGSTOP: the kernel still accepts its connections, nothing answers)
is an outage the client hears about as ERROR 1045, with `backend outage` logged and the
outage metric counted: never a lost connection (2013) because the handshake deadline ran
out while the bridge itself was waiting. Real KDC and two real slapd servers, real clients
(the mariadb CLI, PyMySQL); connect_timeout shorter than the backend's own timeouts, as the
defaults were (kerberos.timeout 10 = connect_timeout 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.kdc import Kdc
from sandbox.mariadb import MariaDB
from sandbox.pam import PamSandbox
from sandbox.ports import free_port, wait_until
from tests.integration.harness import (
    Bridge,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
    start_bridge,
)
from tests.integration.test_metrics import scrape, value
from tests.ldapfix import ldap_settings, start_slapd

pytestmark = pytest.mark.integration
CONNECT_TIMEOUT = 2.0  # the client's time: shorter than the backends' own timeouts below
OUTAGES = "mysql_auth_bridge_backend_outages_total"


@contextmanager
def stopped(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    """SIGSTOP: the process keeps its sockets (connections are accepted) and answers none."""
    for proc in procs:
        os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in procs:
            os.kill(proc.pid, signal.SIGCONT)


def timed_refusal(client: str, bridge: Bridge, user: str, password: str) -> tuple[int, float]:
    """(errno, seconds) of a login that must fail, with the mariadb CLI or PyMySQL."""
    started = time.monotonic()
    if client == "mariadb":
        done = mariadb_cli(bridge, user, password)
        took = time.monotonic() - started
        assert done.returncode != 0, done.stdout
        return int(done.stderr.split("ERROR ", 1)[1].split(" ", 1)[0]), took
    exc = pytest.raises(Exception, connect, "pymysql", bridge, user, password, "tls").value
    return error_of(exc)[0], time.monotonic() - started


def outages(metrics_port: int, backend: str) -> float:
    return value(scrape(metrics_port, "/metrics")[1], OUTAGES, backend=backend)


def test_a_hung_kdc_is_1045_and_an_outage(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> None:
    kdc = Kdc.start(tmp_path / "kdc", {"erin": "erin-krb"})
    keytab = kdc.service_keytab("mysql/localhost", tmp_path / "service.keytab")
    mariadb.sql("CREATE USER IF NOT EXISTS 'erin'@'%' IDENTIFIED BY 'up-erin'")
    accounts = [Account("erin", "", "authentication_kerberos", upstream_password="up-erin",
                        auth_string=kdc.realm, wire_method="caching_sha2_password")]  # fmt: skip
    metrics = free_port()
    kerberos = {"keytab": str(keytab), "service_principal": f"mysql/localhost@{kdc.realm}",
                "timeout": 3.0}  # fmt: skip
    bridge = start_bridge(tmp_path / "bridge", mariadb, certs, accounts, env=kdc.env,
                          server={"connect_timeout": CONNECT_TIMEOUT},
                          metrics={"listen": f"127.0.0.1:{metrics}"},
                          backends={"kerberos": kerberos})  # fmt: skip
    try:
        assert mariadb_cli(bridge, "erin", "erin-krb").stdout.strip() == "erin@%"
        with stopped(kdc.proc):
            for client in ("mariadb", "pymysql"):
                errno, took = timed_refusal(client, bridge, "erin", "erin-krb")
                assert errno == 1045, client  # not 2013: the handshake clock was stopped
                assert CONNECT_TIMEOUT < took < 3.0 + 2.5, (client, took)
        assert bridge.log.count("backend outage for 'erin': the KDC did not answer in time") == 2
        assert "handshake not finished in time" not in bridge.log
        assert outages(metrics, "kerberos") == 2
    finally:
        bridge.stop()
        kdc.stop()


def test_two_hung_ldap_servers_are_1045_and_an_outage(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """Both servers of `servers:` stopped: each is tried in turn within its timeouts, and the
    whole wait is longer than connect_timeout, yet bounded."""
    first, second = start_slapd(tmp_path / "one", certs), start_slapd(tmp_path / "two", certs)
    mariadb.sql("CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'up-reader'")
    mariadb.sql("GRANT SELECT ON *.* TO 'reader'@'%'")
    accounts = [Account("", "", "authentication_ldap_simple", auth_string="#readers=reader")]
    metrics = free_port()
    ldap = ldap_settings(tmp_path, certs, first.tls_url, second.tls_url,
                         connect_timeout=1.0, response_timeout=1.0)  # fmt: skip
    bridge = start_bridge(tmp_path / "bridge", mariadb, certs, accounts,
                          upstream_only={"reader": "up-reader"},
                          proxy_grants=[{"proxy": "''@'%'", "proxied": ["'reader'@'%'"]}],
                          server={"connect_timeout": CONNECT_TIMEOUT},
                          metrics={"listen": f"127.0.0.1:{metrics}"},
                          backends={"ldap": ldap})  # fmt: skip
    budget = 2 * (1.0 + 3 * 1.0) + 1.0  # two servers x (connect + 3 requests), and the grace
    longest = 0.0
    try:
        assert mariadb_cli(bridge, "bob", "bob-ldap").stdout.strip() == "reader@%"
        with stopped(first.proc, second.proc):
            for client in ("pymysql", "mariadb"):
                errno, took = timed_refusal(client, bridge, "bob", "bob-ldap")
                assert errno == 1045, client
                assert took < budget + 1.5, (client, took)
                longest = max(longest, took)
        assert longest > CONNECT_TIMEOUT  # the wait the handshake deadline used to cut
        assert bridge.log.count("backend outage for 'bob'") == 2
        assert "handshake not finished in time" not in bridge.log
        assert outages(metrics, "ldap") == 2
        # Back once the servers answer again (after the 5 s a failed server is skipped).
        wait_until(lambda: mariadb_cli(bridge, "bob", "bob-ldap").stdout.strip() == "reader@%",
                   15, "a login after SIGCONT")  # fmt: skip
    finally:
        bridge.stop()
        first.stop()
        second.stop()


OWN_USERS = ("sia", "pia")  # upstream accounts only the next test makes and drops


def test_a_hung_kdc_and_ldap_do_not_keep_store_and_pam_logins_waiting(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """The KDC and slapd stopped, and more password logins for each than its threads
    (kerberos.threads 2, ldap.threads 2): every one of those threads hangs in its call.
    Store logins (PyMySQL, the mariadb CLI) and PAM logins (pam_wrapper) meanwhile take no
    longer than usual: each backend waits on threads of its own. The hung logins end as
    1045 within their backend's time."""
    kdc = Kdc.start(tmp_path / "kdc", {"erin": "erin-krb"})
    keytab = kdc.service_keytab("mysql/localhost", tmp_path / "service.keytab")
    slapd = start_slapd(tmp_path / "ldap", certs)
    pam = PamSandbox.create(tmp_path / "pam", [("pia", "pia-pw", "mysql")])
    accounts = [
        Account("erin", "", "authentication_kerberos", upstream_password="up-erin",
                auth_string=kdc.realm, wire_method="caching_sha2_password"),
        Account("", "", "authentication_ldap_simple", auth_string="#readers=reader"),
        Account("pia", "", "authentication_pam", auth_string="mysql", upstream_password="up-pia"),
        Account("sia", "sia-pw", "caching_sha2_password", upstream_password="up-sia"),
    ]  # fmt: skip
    for user in ("erin", "reader", *OWN_USERS):  # erin and reader as the tests above make them
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'up-{user}'")
    kerberos = {"keytab": str(keytab), "service_principal": f"mysql/localhost@{kdc.realm}",
                "timeout": 6.0, "threads": 2}  # fmt: skip
    ldap = ldap_settings(tmp_path, certs, slapd.tls_url, connect_timeout=1.0,
                         response_timeout=4.0, threads=2)  # fmt: skip
    bridge = start_bridge(tmp_path / "bridge", mariadb, certs, accounts, env={**kdc.env, **pam.env()},
                          upstream_only={"reader": "up-reader"},
                          proxy_grants=[{"proxy": "''@'%'", "proxied": ["'reader'@'%'"]}],
                          server={"connect_timeout": 20},
                          backends={"kerberos": kerberos, "ldap": ldap, "pam": pam.config()})  # fmt: skip
    hung: list[tuple[str, int, float]] = []

    def hung_login(user: str, password: str) -> None:
        errno, took = timed_refusal("pymysql", bridge, user, password)
        hung.append((user, errno, took))

    try:
        for user, password in (("erin", "erin-krb"), ("bob", "bob-ldap")):  # all answer first
            with closing(connect("pymysql", bridge, user, password, "tls")) as conn:
                assert scalar(conn, "SELECT 1") == 1
        with stopped(kdc.proc, slapd.proc):
            waiting = [threading.Thread(target=hung_login, args=login)
                       for login in [("erin", "erin-krb"), ("bob", "bob-ldap")] * 4]  # fmt: skip
            for thread in waiting:
                thread.start()
            time.sleep(1.0)  # every Kerberos and LDAP thread is in its hung call by now
            assert not hung
            for user, password in (("sia", "sia-pw"), ("pia", "pia-pw")) * 3:
                started = time.monotonic()
                with closing(connect("pymysql", bridge, user, password, "tls")) as conn:
                    assert scalar(conn, "SELECT CURRENT_USER()") == f"{user}@%"
                assert time.monotonic() - started < 1.5, user
            started = time.monotonic()
            assert mariadb_cli(bridge, "sia", "sia-pw").stdout.strip() == "sia@%"
            assert time.monotonic() - started < 1.5
            assert not hung  # the Kerberos and LDAP logins were still waiting all along
            for thread in waiting:
                thread.join(30)
        assert sorted(user for user, _, _ in hung) == ["bob"] * 4 + ["erin"] * 4
        assert all(errno == 1045 for _, errno, _ in hung), hung
        # each within its backend's own budget: Kerberos 6 s; LDAP 1 + 3 x 4 s
        assert max(took for user, _, took in hung if user == "erin") < 6.0 + 1.0, hung
        assert max(took for user, _, took in hung if user == "bob") < 13.0 + 1.0, hung
    finally:
        bridge.stop()
        kdc.stop()
        slapd.stop()
        for user in OWN_USERS:  # only this test's: the server is shared by every test
            mariadb.sql(f"DROP USER IF EXISTS '{user}'@'%'")


def test_a_hung_upstream_with_kept_connections_costs_one_timeout_not_one_each(
    tmp_path: Path, plain_mariadb: MariaDB, certs: CertSet
) -> None:
    """upstream.connect_timeout is 'seconds to connect and log in upstream'. With kept
    connections (upstream.pool) and a hung upstream, each kept connection used to get its own
    COM_CHANGE_USER timeout before the fresh login got its own: 4 kept connections and a
    1 s timeout made a client wait 5 s for its ERROR 3169 (16 kept, the default per account,
    and 5 s: 85 s). Now every kept connection tried shares one timeout and the fresh login
    has its own: at most twice connect_timeout."""
    plain_mariadb.sql("CREATE USER IF NOT EXISTS 'pooled'@'%' IDENTIFIED BY 'up-pooled'")
    bridge = start_bridge(tmp_path / "bridge", plain_mariadb, certs,
                          [Account("pooled", "pooled-pw", "mysql_native_password",
                                   upstream_password="up-pooled")],
                          upstream={"connect_timeout": 1.0, "tls": {"mode": "disabled"}})  # fmt: skip
    try:
        clients = [connect("pymysql", bridge, "pooled", "pooled-pw", "tls") for _ in range(4)]
        for conn in clients:
            conn.close()  # COM_QUIT: four upstream connections kept
        time.sleep(0.5)  # the pool's check of each returned connection
        with stopped(plain_mariadb.proc):
            errno, took = timed_refusal("pymysql", bridge, "pooled", "pooled-pw")
            assert errno == 3169
            assert took < 3.0, took  # 1 s for the kept ones, 1 s for a fresh login
            errno, took = timed_refusal("mariadb", bridge, "pooled", "pooled-pw")
            assert (errno, took < 3.0) == (3169, True), took
        with closing(connect("mysqlclient", bridge, "pooled", "pooled-pw", "tls")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "pooled@%"  # back once it answers
    finally:
        bridge.stop()
