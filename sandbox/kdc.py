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
        kdc = cls(base, free_port(), realm)
        kdc.write_config()
        kdc.run("kdb5_util", "create", "-s", "-r", realm, "-P", "master-password")
        for name, password in principals.items():
            kdc.kadmin(f"addprinc -pw {password} {name}")
        for _ in range(3):  # the free port may be taken (UDP or TCP) before krb5kdc binds it
            if kdc.launch():
                return kdc
            kdc.port = free_port()
            kdc.write_config()
        raise RuntimeError(f"krb5kdc exited at start three times:\n{kdc.log_tail()}")

    def write_config(self) -> None:
        (self.base / "krb5.conf").write_text(f"""[libdefaults]
  default_realm = {self.realm}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  ticket_lifetime = 1h
[realms]
  {self.realm} = {{
    kdc = 127.0.0.1:{self.port}
    admin_server = 127.0.0.1:{self.port}
  }}
""")  # fmt: skip
        (self.base / "kdc.conf").write_text(f"""[kdcdefaults]
  kdc_ports = {self.port}
  kdc_tcp_ports = {self.port}
[realms]
  {self.realm} = {{
    database_name = {self.base}/principal
    key_stash_file = {self.base}/stash
    acl_file = {self.base}/kadm5.acl
  }}
[logging]
  kdc = FILE:{self.base}/kdc.log
""")  # fmt: skip

    def launch(self) -> bool:
        """Start krb5kdc and wait for its 'commencing' line; False when it exited instead."""
        log = self.base / "kdc.log"
        log.write_text("")
        with (self.base / "kdc.stderr").open("ab") as stderr:
            self.proc = subprocess.Popen(
                ["krb5kdc", "-n", "-P", str(self.base / "kdc.pid")], env=self.full_env,
                stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        try:  # a loaded machine (CI, two cores) can take more than a few seconds
            wait_until(lambda: self.proc.poll() is not None or "commencing" in log.read_text(),
                       30, "krb5kdc")  # fmt: skip
        except TimeoutError as exc:
            self.stop()
            raise TimeoutError(f"{exc}:\n{self.log_tail()}") from None
        return self.proc.poll() is None

    def log_tail(self) -> str:
        files = [self.base / "kdc.log", self.base / "kdc.stderr"]
        return "\n".join(f.read_text(errors="replace")[-2000:] for f in files if f.exists())

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
