"""A throwaway Active Directory domain controller: Samba's AD DC (Debian's samba-ad-dc),
provisioned under a temp dir and listening on a loopback address of its own (its LDAP, LDAPS
and KDC ports are AD's fixed ones: 389, 636, 88), with a test CA's certificate for that
address. Users, nested groups, a disabled user, a user who must change the password and a
service account with an SPN are added over LDAPS as the domain administrator; the service
account's AES keys are exported to a keytab with samba-tool."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.certs import CertSet, make_certs
from sandbox.ports import port_open, wait_until
from sandbox.process import stop_process

REALM = "AD.TEST"
DOMAIN = "ADTEST"
BASE = "DC=ad,DC=test"
USERS = f"CN=Users,{BASE}"
ADMIN = f"Administrator@{REALM}"
ADMIN_PASSWORD = "Admin-pw-1"  # pragma: allowlist secret (a throwaway test domain)
AD_PORTS = (88, 389, 636)
# userAccountControl: NORMAL_ACCOUNT, and ACCOUNTDISABLE on top of it
NORMAL_ACCOUNT, ACCOUNT_DISABLED = 0x200, 0x202
AES_ONLY = 0x18  # msDS-SupportedEncryptionTypes: AES128 | AES256 (else tickets are RC4)
MINUTE = -600_000_000  # AD durations: negative, in 100 ns


@dataclass(frozen=True)
class AdUser:
    name: str  # sAMAccountName; the UPN is name@ad.test
    password: str = field(repr=False)
    groups: tuple[str, ...] = ()  # direct memberships (memberOf)
    disabled: bool = False
    must_change: bool = False  # pwdLastSet 0: "user must change password at next logon"
    spns: tuple[str, ...] = ()  # a service account: its SPNs, AES keys

    @property
    def dn(self) -> str:
        return f"CN={self.name},{USERS}"

    @property
    def upn(self) -> str:
        return f"{self.name}@{REALM.lower()}"


@dataclass(frozen=True)
class AdGroup:
    name: str
    member_of: tuple[str, ...] = ()  # groups this group is a member of (nesting)

    @property
    def dn(self) -> str:
        return f"CN={self.name},{USERS}"


def free_address(first: int = 10, last: int = 250) -> str:
    """A 127.0.0.x on which nothing holds AD's ports (another DC, a wildcard listener)."""
    for n in range(first, last + 1):
        address = f"127.0.0.{n}"
        if all(_can_bind(address, port) for port in AD_PORTS):
            return address
    raise RuntimeError("no free loopback address for the Samba DC")


def _can_bind(address: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise FileNotFoundError(f"{name} is not installed (apt-get install samba samba-ad-dc "
                                "samba-ad-provision winbind krb5-user)")  # fmt: skip
    return found


@dataclass
class SambaDC:
    base: Path
    address: str
    certs: CertSet
    proc: subprocess.Popen[bytes] = field(init=False, repr=False)  # set once it is started

    # --- start and stop ---------------------------------------------------------------------

    @classmethod
    def start(
        cls, base: Path, users: list[AdUser], groups: list[AdGroup], address: str | None = None
    ) -> SambaDC:
        base.mkdir(parents=True, exist_ok=True)
        address = address or free_address()
        certs = make_certs(base / "certs", "dc", ips=(address,))
        dc = cls(base, address, certs)
        dc._write_krb5_conf()
        dc._provision()
        dc.proc = dc._spawn()
        dc._populate(users, groups)
        return dc

    def _provision(self) -> None:
        run = self.base / "run"
        run.mkdir(exist_ok=True)
        options = {
            "interfaces": f"{self.address}/8",  # the /8 is needed for a loopback address
            "bind interfaces only": "yes",
            "pid directory": str(run),
            "ncalrpc dir": str(run / "ncalrpc"),
            "winbindd socket directory": str(run / "winbindd"),
            "ntp signd socket directory": str(run / "ntp"),
            "server services": "ldap, kdc",
            "tls enabled": "yes",
            "tls certfile": str(self.certs.cert),
            "tls keyfile": str(self.certs.key),
            "tls cafile": str(self.certs.ca),
        }
        cmd = [_binary("samba-tool"), "domain", "provision", "-s", "/dev/null",
               f"--targetdir={self.base / 'dc'}", f"--realm={REALM}", f"--domain={DOMAIN}",
               "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307", "--host-name=dc1",
               f"--host-ip={self.address}", f"--adminpass={ADMIN_PASSWORD}",
               *(f"--option={k}={v}" for k, v in options.items())]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, env=self.full_env)
        if done.returncode != 0:
            raise RuntimeError(f"samba-tool domain provision failed:\n{done.stdout}{done.stderr}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        log = open(self.base / "samba.log", "wb")  # noqa: SIM115 - the child keeps it
        cmd = [_binary("samba"), "-s", str(self.smb_conf), "--foreground", "--no-process-group",
               "-M", "single", "-l", str(self.base)]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.full_env)
        wait_until(lambda: proc.poll() is not None or self._listening(), 60, "samba")
        if proc.poll() is not None:
            raise RuntimeError((self.base / "samba.log").read_text(errors="replace"))
        return proc

    def _listening(self) -> bool:
        return all(port_open(port, self.address) for port in AD_PORTS)

    def stop(self) -> None:
        stop_process(self.proc, 10)

    # --- the directory's contents -----------------------------------------------------------

    def _populate(self, users: list[AdUser], groups: list[AdGroup]) -> None:
        """No complexity rule, lockout after 3 failures (for 1 minute), then the users, then
        the groups with their members (users and other groups), over LDAPS as the
        administrator."""
        conn = self.admin()
        self._modify(conn, BASE, pwdProperties=0, lockoutThreshold=3, lockoutDuration=MINUTE,
                     lockOutObservationWindow=MINUTE)  # fmt: skip
        for user in users:
            self._add_user(conn, user)
        for group in groups:
            members = [u.dn for u in users if group.name in u.groups]
            members += [g.dn for g in groups if group.name in g.member_of]
            attrs: dict[str, Any] = {"sAMAccountName": group.name}
            if members:
                attrs["member"] = members
            self._add(conn, group.dn, ["top", "group"], attrs)
        conn.unbind()

    def _add_user(self, conn: Any, user: AdUser) -> None:
        attrs: dict[str, Any] = {
            "sAMAccountName": user.name,
            "userPrincipalName": user.upn,
            "unicodePwd": f'"{user.password}"'.encode("utf-16-le"),
            "userAccountControl": ACCOUNT_DISABLED if user.disabled else NORMAL_ACCOUNT,
        }
        if user.must_change:
            attrs["pwdLastSet"] = 0
        if user.spns:
            attrs["servicePrincipalName"] = list(user.spns)
            attrs["msDS-SupportedEncryptionTypes"] = AES_ONLY
        self._add(conn, user.dn, ["top", "person", "organizationalPerson", "user"], attrs)

    @staticmethod
    def _add(conn: Any, dn: str, classes: list[str], attrs: dict[str, Any]) -> None:
        if not conn.add(dn, classes, attrs):
            raise RuntimeError(f"cannot add {dn}: {conn.result}")

    @staticmethod
    def _modify(conn: Any, dn: str, **values: object) -> None:
        import ldap3

        changes = {k: [(ldap3.MODIFY_REPLACE, [v])] for k, v in values.items()}
        if not conn.modify(dn, changes):
            raise RuntimeError(f"cannot modify {dn}: {conn.result}")

    def admin(self) -> Any:
        """An ldap3 connection bound as the domain administrator over verified LDAPS."""
        import ssl

        import ldap3

        tls = ldap3.Tls(ca_certs_file=str(self.certs.ca), validate=ssl.CERT_REQUIRED)
        server = ldap3.Server(self.ldaps_url, use_ssl=True, tls=tls, get_info=ldap3.NONE)
        return ldap3.Connection(server, ADMIN, ADMIN_PASSWORD, auto_bind=True, auto_referrals=False)

    def set_attribute(self, dn: str, **values: object) -> None:
        conn = self.admin()
        try:
            self._modify(conn, dn, **values)
        finally:
            conn.unbind()

    # --- Kerberos ---------------------------------------------------------------------------

    def _write_krb5_conf(self) -> None:
        (self.base / "krb5.conf").write_text(f"""[libdefaults]
  default_realm = {REALM}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  ticket_lifetime = 1h
[realms]
  {REALM} = {{
    kdc = {self.address}
    admin_server = {self.address}
  }}
""")  # fmt: skip

    @property
    def env(self) -> dict[str, str]:
        """For every process that talks Kerberos to this domain: the bridge and the clients."""
        return {"KRB5_CONFIG": str(self.base / "krb5.conf")}

    @property
    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def export_keytab(self, principal: str, keytab: Path) -> Path:
        """`samba-tool domain exportkeytab` for one principal (its AES keys: the account has
        msDS-SupportedEncryptionTypes set)."""
        cmd = [_binary("samba-tool"), "domain", "exportkeytab", str(keytab),
               f"--principal={principal}", "-s", str(self.smb_conf)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, env=self.full_env)
        os.chmod(keytab, 0o600)
        return keytab

    def kinit(self, principal: str, password: str, cache: Path) -> dict[str, str]:
        """A ticket from the DC's KDC in its own credential cache; returns the environment
        that uses it."""
        env = {**self.env, "KRB5CCNAME": f"FILE:{cache}"}
        subprocess.run([_binary("kinit"), principal], input=password + "\n",
                       env={**os.environ, **env}, capture_output=True, text=True,
                       check=True)  # fmt: skip
        return env

    # --- addresses --------------------------------------------------------------------------

    @property
    def smb_conf(self) -> Path:
        return self.base / "dc" / "etc" / "smb.conf"

    @property
    def ldap_url(self) -> str:
        return f"ldap://{self.address}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.address}"
