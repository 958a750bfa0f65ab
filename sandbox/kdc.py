"""A throwaway MIT Kerberos KDC on a loopback port, state and configuration in a temp dir:
principals with passwords, and a service principal exported to a keytab."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.ports import free_port, wait_until

REALM = "EXAMPLE.TEST"


@dataclass
class Kdc:
    base: Path
    port: int
    realm: str
    proc: subprocess.Popen[bytes] = field(init=False, repr=False)  # set once it is started

    @property
    def env(self) -> dict[str, str]:
        """For every process that talks Kerberos here: the bridge and the clients."""
        return {"KRB5_CONFIG": str(self.base / "krb5.conf"),
                "KRB5_KDC_PROFILE": str(self.base / "kdc.conf")}  # fmt: skip

    @classmethod
    def start(cls, base: Path, principals: dict[str, str], realm: str = REALM) -> Kdc:
        base.mkdir(parents=True, exist_ok=True)
        port = free_port()
        (base / "krb5.conf").write_text(f"""[libdefaults]
  default_realm = {realm}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  ticket_lifetime = 1h
[realms]
  {realm} = {{
    kdc = 127.0.0.1:{port}
    admin_server = 127.0.0.1:{port}
  }}
""")  # fmt: skip
        (base / "kdc.conf").write_text(f"""[kdcdefaults]
  kdc_ports = {port}
  kdc_tcp_ports = {port}
[realms]
  {realm} = {{
    database_name = {base}/principal
    key_stash_file = {base}/stash
    acl_file = {base}/kadm5.acl
  }}
[logging]
  kdc = FILE:{base}/kdc.log
""")  # fmt: skip
        kdc = cls(base, port, realm)
        kdc.run("kdb5_util", "create", "-s", "-r", realm, "-P", "master-password")
        for name, password in principals.items():
            kdc.kadmin(f"addprinc -pw {password} {name}")
        args = ["krb5kdc", "-n", "-P", str(base / "kdc.pid")]
        kdc.proc = subprocess.Popen(args, env=kdc.full_env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
        log = base / "kdc.log"
        wait_until(lambda: log.exists() and "commencing" in log.read_text(), 10, "krb5kdc")
        return kdc

    @property
    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def run(self, *cmd: str) -> str:
        done = subprocess.run(cmd, env=self.full_env, capture_output=True, text=True, check=True)
        return done.stdout

    def kadmin(self, query: str) -> str:
        return self.run("kadmin.local", "-r", self.realm, "-q", query)

    def service_keytab(self, principal: str, keytab: Path) -> Path:
        self.kadmin(f"addprinc -randkey {principal}")
        self.kadmin(f"ktadd -k {keytab} {principal}")
        os.chmod(keytab, 0o600)
        return keytab

    def kinit(self, principal: str, password: str, cache: Path) -> dict[str, str]:
        """A ticket in its own credential cache; returns the environment that uses it."""
        env = {**self.env, "KRB5CCNAME": f"FILE:{cache}"}
        subprocess.run(["kinit", principal], input=password + "\n", env={**os.environ, **env},
                       capture_output=True, text=True, check=True)  # fmt: skip
        return env

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
