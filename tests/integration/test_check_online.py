"""`check --online` against the sandboxes: a real MariaDB (with and without TLS), slapd, an
MIT KDC and a pam_wrapper stack. Each problem is found before a user would meet it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.bridgeproc import Account, add_grants, write_config
from sandbox.certs import CertSet
from sandbox.kdc import Kdc
from sandbox.ldap import SERVICE_DN, Slapd
from sandbox.mariadb import MariaDB
from sandbox.pam import PamSandbox
from sandbox.ports import free_port
from tests.integration.harness import create_upstream_accounts
from tests.ldapfix import ldap_settings, start_slapd

pytestmark = pytest.mark.integration


def check_online(
    config: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "check", "--online", "-c", str(config)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})  # fmt: skip


def configure(
    directory: Path, db: MariaDB, certs: CertSet, accounts: list[Account], **sections: Any
) -> Path:
    return write_config(directory, free_port(), db.port, certs, accounts, **sections)


# app's upstream password is right, nat's is not, and ghost has no upstream account.
ONE_RIGHT_ONE_WRONG_ONE_MISSING = [
    Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app"),
    Account("nat", "nat-pw", "mysql_native_password", upstream_password="not-the-one"),
    Account("ghost", "g-pw", "caching_sha2_password", upstream_password="whatever"),
]


def test_upstream_logins_find_a_wrong_password_and_a_missing_account(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    config = configure(tmp_path, mariadb, certs, ONE_RIGHT_ONE_WRONG_ONE_MISSING)
    done = check_online(config)
    assert done.returncode == 1
    assert f"ok: upstream login as 'app' to 127.0.0.1:{mariadb.port} (TLS)" in done.stdout
    creds = tmp_path / "upstream-credentials.yaml"
    lines = {
        line.split(": ", 2)[1]: line
        for line in done.stderr.splitlines()
        if line.startswith("error: ")
    }
    assert lines.keys() == {f"{creds}:3", f"{creds}:5"}  # ghost, nat: the lines of their keys
    assert "ghost: upstream login: upstream refused the login: 1045" in lines[f"{creds}:3"]
    assert "nat: upstream login: upstream refused the login: 1045" in lines[f"{creds}:5"]
    assert "not-the-one" not in done.stderr + done.stdout  # no secret in the report
    assert f"{config}: 2 error(s)" in done.stderr


def test_upstream_login_errors_come_in_the_files_order(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """By line, as check's own errors (operations.md), not by account name."""
    config = configure(tmp_path, mariadb, certs, ONE_RIGHT_ONE_WRONG_ONE_MISSING)
    creds = tmp_path / "upstream-credentials.yaml"
    creds.write_text("nat: {password: not-the-one}\nghost: {password: whatever}\n"
                     "app: {password: up-app}\n")  # fmt: skip
    done = check_online(config)
    errors = [line.split(": ", 3)[1:3] for line in done.stderr.splitlines()
              if line.startswith("error: ")]  # fmt: skip
    assert errors == [[f"{creds}:1", "nat"], [f"{creds}:2", "ghost"]], done.stderr


def test_a_tls_mode_the_upstream_cannot_satisfy(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, other_certs: CertSet
) -> None:
    accounts = [Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app")]
    config = configure(tmp_path / "a", mariadb, certs, accounts,
                       upstream={"tls": {"mode": "verify_ca", "ca": str(other_certs.ca)}})  # fmt: skip
    done = check_online(config)
    assert done.returncode == 1 and "app: upstream login: TLS to 127.0.0.1" in done.stderr
    assert "TLS to 127.0.0.1" in done.stderr and "CERTIFICATE_VERIFY_FAILED" in done.stderr
    config = configure(tmp_path / "b", mariadb, certs, accounts,
                       upstream={"tls": {"mode": "verify_identity", "ca": str(certs.ca)}})  # fmt: skip
    assert check_online(config).returncode == 0  # the sandbox's certificate names 127.0.0.1


@pytest.fixture(scope="module")
def plain_upstream(plain_mariadb: MariaDB) -> MariaDB:
    """No TLS at all, and the account the tests log in as."""
    create_upstream_accounts(
        plain_mariadb, [Account("app", "", "caching_sha2_password", upstream_password="up-app")]
    )
    return plain_mariadb


def test_verify_identity_against_an_upstream_without_tls(
    tmp_path: Path, plain_upstream: MariaDB, certs: CertSet
) -> None:
    accounts = [Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app")]
    config = configure(tmp_path, plain_upstream, certs, accounts,
                       upstream={"tls": {"mode": "verify_identity", "ca": str(certs.ca)}})  # fmt: skip
    done = check_online(config)
    assert done.returncode == 1
    assert "does not offer TLS, which the config requires" in done.stderr
    config = configure(tmp_path / "preferred", plain_upstream, certs, accounts)
    done = check_online(config)
    assert done.returncode == 0 and "(no TLS)" in done.stdout


def backends_config(tmp_path: Path, mariadb: MariaDB, certs: CertSet, slapd: Slapd, kdc: Kdc,
                    keytab: Path, pam: PamSandbox) -> Path:  # fmt: skip
    accounts = [
        Account("", "", "authentication_pam", auth_string="mysql, staff=app"),
        Account("", "", "authentication_pam", host="10.%", auth_string="nosuch, staff=app"),
        Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app"),
    ]
    backends = {
        "ldap": ldap_settings(tmp_path, certs, slapd.tls_url),
        "kerberos": {"keytab": str(keytab), "service_principal": f"mysql/localhost@{kdc.realm}"},
        "pam": pam.config(),
    }
    config = configure(tmp_path, mariadb, certs, accounts, backends=backends)
    add_grants(tmp_path / "accounts.yaml", [{"proxy": "''@'%'", "proxied": ["'app'@'%'"]},
                                            {"proxy": "''@'10.%'", "proxied": ["'app'@'%'"]}])  # fmt: skip
    return config


def test_ldap_bind_kerberos_ticket_and_pam_service_files(tmp_path: Path, mariadb: MariaDB, certs: CertSet,
                                                         slapd: Slapd, kdc: Kdc) -> None:  # fmt: skip
    keytab = kdc.service_keytab("mysql/localhost", tmp_path / "service.keytab")
    pam = PamSandbox.create(tmp_path / "pam", [])
    config = backends_config(tmp_path, mariadb, certs, slapd, kdc, keytab, pam)
    env = {**pam.env(), **kdc.env}
    done = check_online(config, env)
    assert "ok: LDAP bind as cn=bridge" in done.stdout or "ok: LDAP bind as " in done.stdout
    assert (
        f"ok: Kerberos service ticket for mysql/localhost@{kdc.realm} from the KDC" in done.stdout
    )
    assert f"ok: PAM service 'mysql': {tmp_path}/pam/services/mysql" in done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "PAM service 'nosuch' has no file in" in errors[0]
    assert f"{tmp_path}/accounts.yaml:" in errors[0]  # the row that names it

    # Now break both directories: a wrong service-account password, a stale keytab.
    (tmp_path / "ldap-bind.secret").write_text("not-the-password\n")
    kdc.kadmin("cpw -randkey mysql/localhost")  # the KDC's key moves on; the keytab's does not
    (tmp_path / "pam" / "services" / "nosuch").write_text(
        (tmp_path / "pam" / "services" / "mysql").read_text()
    )
    done = check_online(config, env)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == 1 and len(errors) == 2, done.stderr
    assert errors[0] == (f"error: backends.ldap.servers[0]: {slapd.tls_url}: the service account's "
                         "bind failed: LDAP bind as 'cn=bridge,ou=services,dc=example,dc=com': "
                         "invalidCredentials")  # fmt: skip
    assert errors[1].startswith(
        f"error: backends.kerberos: no service ticket for mysql/localhost@{kdc.realm}"
    )
    assert "not-the-password" not in done.stderr


def test_a_hung_kdc_is_named_and_given_up_on_at_the_timeout(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    """A KDC that takes the connection and never answers (SIGSTOP): the error said
    `no service ticket ... with <keytab>: ` and nothing after it (a TimeoutError has no
    text), and check --online took 54 s, not 15: the worker thread that libkrb5 kept
    waiting in held the process at its exit."""
    kdc = Kdc.start(tmp_path / "kdc", {})
    keytab = kdc.service_keytab("mysql/localhost", tmp_path / "service.keytab")
    accounts = [Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app")]
    kerberos = {"keytab": str(keytab), "service_principal": f"mysql/localhost@{kdc.realm}"}
    config = configure(tmp_path / "b", mariadb, certs, accounts, backends={"kerberos": kerberos})
    kdc.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        done = check_online(config, kdc.env)
        took = time.monotonic() - started
    finally:
        kdc.proc.send_signal(signal.SIGCONT)
        kdc.stop()
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: backends.kerberos: no service ticket for mysql/localhost@{kdc.realm} with "
        f"{keytab}: the KDC did not answer within 15 s"
    ], done.stderr
    assert 15 <= took < 25, took


def test_an_unreachable_upstream_is_one_error(tmp_path: Path, certs: CertSet) -> None:
    accounts = [
        Account(u, "pw", "caching_sha2_password", upstream_password="x") for u in ("a", "b")
    ]
    config = write_config(tmp_path, free_port(), free_port(), certs, accounts)
    done = check_online(config)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == 1 and len(errors) == 1
    assert errors[0].startswith("error: upstream.address: cannot connect to 127.0.0.1:")


def test_a_hung_upstream_is_one_error(
    tmp_path: Path, plain_mariadb: MariaDB, certs: CertSet
) -> None:
    """An upstream that takes the connection and never answers: each account of the
    credentials file used to wait its connect_timeout and be reported on its own (9 accounts
    and the default 5 s: 45 s and 9 errors that say the same)."""
    accounts = [Account(u, "pw", "caching_sha2_password", upstream_password="x") for u in "abcd"]
    config = configure(tmp_path, plain_mariadb, certs, accounts,
                       upstream={"connect_timeout": 1.0, "tls": {"mode": "disabled"}})  # fmt: skip
    plain_mariadb.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        done = check_online(config)
        took = time.monotonic() - started
    finally:
        plain_mariadb.proc.send_signal(signal.SIGCONT)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: upstream.address: login to 127.0.0.1:{plain_mariadb.port} timed out"
    ], done.stderr
    assert took < 3.5, took


def ldap_check(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, ca: CertSet, *servers: str
) -> subprocess.CompletedProcess[str]:
    """check --online with one account and an LDAP backend on these servers (verified
    against `ca`'s CA), 1 s timeouts."""
    accounts = [Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app")]
    tmp_path.mkdir(parents=True, exist_ok=True)
    ldap = ldap_settings(tmp_path, ca, *servers)
    return check_online(configure(tmp_path, mariadb, certs, accounts, backends={"ldap": ldap}))


def ldap_lines(done: subprocess.CompletedProcess[str]) -> tuple[list[str], list[str]]:
    """(the ok lines, the error lines) about LDAP."""
    oks = [line for line in done.stdout.splitlines() if line.startswith("ok: LDAP")]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: backends.ldap")]
    return oks, errors


def test_ldap_binds_on_every_server_and_names_each_failure(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, slapd: Slapd
) -> None:
    """A login uses the first server that answers; the check binds on each, so a dead or
    misconfigured failover server is found before the failover needs it."""
    create_upstream_accounts(
        mariadb, [Account("app", "", "caching_sha2_password", upstream_password="up-app")]
    )
    dead = f"ldaps://127.0.0.1:{free_port()}"
    done = ldap_check(tmp_path / "second", mariadb, certs, certs, slapd.tls_url, dead)
    assert done.returncode == 1
    assert ldap_lines(done) == (
        [f"ok: LDAP bind as {SERVICE_DN} on {slapd.tls_url}"],
        [
            f"error: backends.ldap.servers[1]: {dead}: the service account's bind failed: connection refused"
        ],
    )
    assert "WARNING" not in done.stderr  # no log line: the report says it, once
    done = ldap_check(tmp_path / "first", mariadb, certs, certs, dead, slapd.url)
    assert done.returncode == 1 and "WARNING" not in done.stderr
    assert ldap_lines(done) == (
        [f"ok: LDAP bind as {SERVICE_DN} on {slapd.url}"],
        [
            f"error: backends.ldap.servers[0]: {dead}: the service account's bind failed: connection refused"
        ],
    )
    done = ldap_check(tmp_path / "both", mariadb, certs, certs, slapd.tls_url, slapd.url)
    assert done.returncode == 0, done.stderr
    assert len(ldap_lines(done)[0]) == 2 and not ldap_lines(done)[1]


def test_ldap_a_wrong_ca_and_a_hung_server_are_named(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, other_certs: CertSet, slapd: Slapd
) -> None:
    create_upstream_accounts(
        mariadb, [Account("app", "", "caching_sha2_password", upstream_password="up-app")]
    )
    done = ldap_check(tmp_path / "ca", mariadb, certs, other_certs, slapd.tls_url, slapd.url)
    verify = "TLS certificate verify failed (certificate signature failure): check ldap.ca and the server's name"
    assert done.returncode == 1
    assert ldap_lines(done) == ([], [
        f"error: backends.ldap.servers[0]: {slapd.tls_url}: the service account's bind failed: {verify}",
        f"error: backends.ldap.servers[1]: {slapd.url}: the service account's bind failed: {verify}",
    ])  # fmt: skip
    hung = start_slapd(tmp_path / "hung", certs)
    hung.proc.send_signal(signal.SIGSTOP)
    try:
        done = ldap_check(
            tmp_path / "hung-check", mariadb, certs, certs, hung.tls_url, slapd.tls_url
        )
    finally:
        hung.proc.send_signal(signal.SIGCONT)
        hung.stop()
    assert done.returncode == 1
    assert ldap_lines(done) == (
        [f"ok: LDAP bind as {SERVICE_DN} on {slapd.tls_url}"],
        [f"error: backends.ldap.servers[0]: {hung.tls_url}: the service account's bind failed: "
         "TLS handshake timed out after 1 s"],
    )  # fmt: skip
