"""`check --online` proves the Kerberos keytab against the KDC on MIT Kerberos and on Active
Directory (a Samba AD DC), the way docs/kerberos.md sets each up: a good keytab is `ok:`
with what was proven, a stale one an error that says it is stale. AD takes no SPN as a
client name, so there the ticket is asked for as the LDAP service account or as the
account's own name in the keytab (bridge/kerberos_check.py).

Also the AD commands docs/kerberos.md gives for msDS-SupportedEncryptionTypes: without
them samba-tool exports RC4 keys only (which check warns about); with either (ldbmodify on
the DC, ldapmodify over LDAPS) it exports AES keys."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bridge.keytab import parse_keytab
from sandbox.bridgeproc import Account
from sandbox.certs import CertSet
from sandbox.kdc import Kdc
from sandbox.mariadb import MariaDB
from sandbox.samba import ADMIN, ADMIN_PASSWORD, REALM, USERS, SambaDC
from tests.adfix import ad_settings
from tests.integration.harness import create_upstream_accounts
from tests.integration.test_check_online import check_online, configure

pytestmark = pytest.mark.integration
APP = Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app")
AES = {17, 18}  # aes128-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96
RC4 = 23
ENCTYPES_LDIF = """dn: {dn}
changetype: modify
replace: msDS-SupportedEncryptionTypes
msDS-SupportedEncryptionTypes: 24
"""


def lines(done: subprocess.CompletedProcess[str], kind: str) -> list[str]:
    stream = done.stdout if kind == "ok" else done.stderr
    return [line for line in stream.splitlines() if line.startswith(f"{kind}: ")]


def kerberos_config(directory: Path, mariadb: MariaDB, certs: CertSet, keytab: Path,
                    service: str, ldap: dict[str, object] | None = None) -> Path:  # fmt: skip
    create_upstream_accounts(mariadb, [APP])
    backends: dict[str, object] = {
        "kerberos": {"keytab": str(keytab), "service_principal": service}
    }
    if ldap is not None:
        backends["ldap"] = ldap
        backends["kerberos"] = {**backends["kerberos"], "groups_from_ldap": True}  # type: ignore[dict-item]
    return configure(directory, mariadb, certs, [APP], backends=backends)


# --- MIT Kerberos ------------------------------------------------------------------------------


def test_mit_good_then_stale_keytab(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, kdc: Kdc
) -> None:
    keytab = kdc.service_keytab("mysql/chk", tmp_path / "service.keytab")
    service = f"mysql/chk@{kdc.realm}"
    config = kerberos_config(tmp_path / "b", mariadb, certs, keytab, service)
    done = check_online(config, kdc.env)
    assert done.returncode == 0, done.stderr
    (proof,) = [line for line in lines(done, "ok") if "Kerberos" in line]
    assert proof == (
        f"ok: Kerberos service ticket for {service} from the KDC (asked for as {service} with "
        f"the keytab's key), accepted with {keytab} (kvno 2: aes256-cts-hmac-sha1-96, "
        f"aes128-cts-hmac-sha1-96)"
    )
    assert not lines(done, "warning")

    kdc.kadmin("cpw -randkey mysql/chk")  # the KDC's key moves on; the keytab's does not
    done = check_online(config, kdc.env)
    errors = lines(done, "error")
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert errors[0].startswith(
        f"error: backends.kerberos: no service ticket for {service} with {keytab}, asked for "
        f"as {service}: "
    )
    assert "the keytab is stale" in errors[0] and "export it again" in errors[0]


# --- Active Directory (Samba AD DC) ------------------------------------------------------------


class ServiceAccount:
    """A service account made with the commands docs/kerberos.md gives (one per test: the
    tests change its password)."""

    def __init__(self, dc: SambaDC, name: str, password: str) -> None:
        self.dc, self.name, self.password = dc, name, password
        self.spn = f"mysql/{name}.ad.test"
        self.samba_tool("user", "add", name, password)
        self.samba_tool("spn", "add", self.spn, name)

    @property
    def dn(self) -> str:
        return f"CN={self.name},{USERS}"

    @property
    def service(self) -> str:
        return f"{self.spn}@{REALM}"

    def samba_tool(self, *args: str) -> None:
        cmd = ["samba-tool", *args, "-s", str(self.dc.smb_conf)]
        subprocess.run(cmd, check=True, capture_output=True, env=self.dc.full_env)

    def aes_by_ldbmodify(self) -> None:
        """On the DC, as root: ldbmodify on its sam.ldb (Debian: ldb-tools)."""
        sam = self.dc.base / "dc" / "private" / "sam.ldb"
        subprocess.run(["ldbmodify", "-H", str(sam)], input=ENCTYPES_LDIF.format(dn=self.dn),
                       check=True, capture_output=True, text=True)  # fmt: skip

    def aes_by_ldapmodify(self) -> None:
        """From anywhere: ldapmodify over LDAPS as a domain administrator."""
        cmd = ["ldapmodify", "-H", self.dc.ldaps_url, "-D", ADMIN, "-w", ADMIN_PASSWORD]
        env = {**os.environ, "LDAPTLS_CACERT": str(self.dc.certs.ca)}
        subprocess.run(cmd, input=ENCTYPES_LDIF.format(dn=self.dn), check=True,
                       capture_output=True, text=True, env=env)  # fmt: skip

    def export(self, keytab: Path, *principals: str) -> Path:
        for principal in principals or (self.spn,):
            cmd = ["domain", "exportkeytab", str(keytab), f"--principal={principal}"]
            self.samba_tool(*cmd)
        os.chmod(keytab, 0o600)
        return keytab

    def new_password(self, password: str) -> None:
        self.samba_tool("user", "setpassword", self.name, f"--newpassword={password}")
        self.password = password

    def ldap(self, directory: Path) -> dict[str, object]:
        """backends.ldap as docs/ldap.md gives it for AD, bound as this account."""
        secret = directory / f"{self.name}.secret"
        secret.write_text(self.password + "\n")
        os.chmod(secret, 0o600)
        return ad_settings(directory, self.dc, self.dc.ldaps_url, bind_dn=self.dn,
                           bind_password_file=str(secret))  # fmt: skip


def enctypes(keytab: Path, principal: str) -> set[int]:
    return {e.enctype for e in parse_keytab(keytab.read_bytes()) if e.principal == principal}


@pytest.mark.parametrize("command", ["ldbmodify", "ldapmodify"])
def test_documented_enctypes_command_gives_aes_keys(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC, command: str
) -> None:
    account = ServiceAccount(samba_dc, f"svc-enc-{command[:4]}", "Svc-enc-pw-1")
    rc4 = account.export(tmp_path / "rc4.keytab")
    assert enctypes(rc4, account.service) == {RC4}  # why docs/kerberos.md says to set it
    directory = tmp_path / "rc4"
    directory.mkdir()
    config = kerberos_config(directory, mariadb, certs, rc4, account.service,
                             account.ldap(directory))  # fmt: skip
    done = check_online(config, samba_dc.env)
    assert done.returncode == 0, done.stderr
    assert any("holds only weak keys" in w and "arcfour-hmac" in w for w in lines(done, "warning"))

    getattr(account, f"aes_by_{command}")()
    aes = account.export(tmp_path / "aes.keytab")
    assert enctypes(aes, account.service) == AES


def test_ad_keytab_proven_through_the_ldap_service_account_then_stale(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC
) -> None:
    """docs/kerberos.md's AD setup: the SPN's keytab and an LDAP service account (the same
    account here, as the docs allow). The trial's false error is gone; a password change
    after the export is reported as a stale keytab."""
    account = ServiceAccount(samba_dc, "svc-chk", "Svc-chk-pw-1")
    account.aes_by_ldapmodify()
    keytab = account.export(tmp_path / "mysql.keytab")
    config = kerberos_config(tmp_path / "b", mariadb, certs, keytab, account.service,
                             account.ldap(tmp_path))  # fmt: skip
    done = check_online(config, samba_dc.env)
    assert done.returncode == 0, done.stderr
    (proof,) = [line for line in lines(done, "ok") if "Kerberos" in line]
    assert proof.startswith(
        f"ok: Kerberos service ticket for {account.service} from the KDC (asked for as "
        f"svc-chk@{REALM} with backends.ldap's service-account password; the KDC takes no "
        f"{account.service} as a client), accepted with {keytab} (kvno "
    )
    assert proof.endswith(": aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96)")
    assert not lines(done, "warning") and not lines(done, "error")

    account.new_password("Svc-chk-pw-2")  # the keys change; the keytab stays as it was
    account.ldap(tmp_path)  # the service account's new password, where the config reads it
    done = check_online(config, samba_dc.env)
    errors = lines(done, "error")
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert errors[0].startswith(
        f"error: backends.kerberos: the KDC's service ticket for {account.service} cannot be "
        f"opened with {keytab} (it holds kvno "
    )
    assert f"Cannot find key for {account.service} kvno" in errors[0]
    assert "the keytab is stale" in errors[0] and "export it again" in errors[0]


def test_ad_keytab_without_ldap(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, samba_dc: SambaDC
) -> None:
    """No LDAP: the SPN alone cannot be proven (a warning that says what was checked); with
    the account's own name exported into the keytab too, it is (then stale after a password
    change)."""
    account = ServiceAccount(samba_dc, "svc-kt", "Svc-kt-pw-1")
    account.aes_by_ldbmodify()
    only_spn = account.export(tmp_path / "spn.keytab")
    done = check_online(kerberos_config(tmp_path / "a", mariadb, certs, only_spn, account.service),
                        samba_dc.env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not [line for line in lines(done, "ok") if "Kerberos" in line]
    (warning,) = lines(done, "warning")
    assert warning.startswith(
        f"warning: backends.kerberos: the keytab's key for {account.service} is not proven "
        f"against the KDC: it takes no {account.service} as a client name"
    )
    assert "--principal=<account>" in warning

    both = account.export(tmp_path / "both.keytab", account.spn, account.name)
    config = kerberos_config(tmp_path / "b", mariadb, certs, both, account.service)
    done = check_online(config, samba_dc.env)
    assert done.returncode == 0, done.stderr
    assert (
        f"ok: Kerberos service ticket for {account.service} from the KDC (asked for as "
        f"svc-kt@{REALM} with its key in {both}; the KDC takes no {account.service} as a "
        f"client), accepted with {both}" in done.stdout
    )

    account.new_password("Svc-kt-pw-2")
    done = check_online(config, samba_dc.env)
    errors = lines(done, "error")
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert errors[0].startswith(
        f"error: backends.kerberos: no service ticket for {account.service} with {both}, asked "
        f"for as svc-kt@{REALM}: Preauthentication failed (the keytab's key is not the KDC's: "
        f"the keytab is stale"
    )
