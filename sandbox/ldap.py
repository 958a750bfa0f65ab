"""A throwaway OpenLDAP slapd on loopback ports (ldap:// with StartTLS, and ldaps://), state
in a temp dir: people, a service account, posixGroup and groupOfNames groups, memberOf."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.certs import CertSet
from sandbox.ports import free_port, port_open, wait_until

BASE = "dc=example,dc=com"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
SERVICE_DN = f"cn=bridge,ou=services,{BASE}"
ADMIN_DN = f"cn=admin,{BASE}"


def ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


@dataclass(frozen=True)
class Person:
    uid: str
    password: str
    posix_groups: tuple[str, ...] = ()  # posixGroup, membership by memberUid
    named_groups: tuple[str, ...] = ()  # groupOfNames, membership by member DN

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{PEOPLE}"


def _ldif(people: list[Person], service_password: str) -> str:
    entries = [
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: bridge\nuserPassword: {ssha(service_password)}",
    ]
    for n, p in enumerate(people):
        entries.append(
            f"dn: {p.dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: {p.uid}\n"
            f"cn: {p.uid}\nsn: {p.uid}\nuidNumber: {20000 + n}\ngidNumber: 20000\n"
            f"homeDirectory: /nonexistent\nuserPassword: {ssha(p.password)}"
        )
    return "\n\n".join(entries) + "\n"


def _groups(people: list[Person]) -> list[tuple[str, list[str], dict[str, object]]]:
    """(dn, object classes, attributes) of the groups; added live so memberOf is kept."""
    out: list[tuple[str, list[str], dict[str, object]]] = []
    for n, group in enumerate(sorted({g for p in people for g in p.posix_groups})):
        members = [p.uid for p in people if group in p.posix_groups]
        out.append((f"cn={group},{GROUPS}", ["posixGroup"],
                    {"cn": group, "gidNumber": 30000 + n, "memberUid": members}))  # fmt: skip
    for group in sorted({g for p in people for g in p.named_groups}):
        members = [p.dn for p in people if group in p.named_groups]
        out.append((f"cn={group},{GROUPS}", ["groupOfNames"], {"cn": group, "member": members}))
    return out


def _other_database(base: Path, suffix: str) -> str:
    """An empty extra database: one more naming context in the rootDSE."""
    directory = base / f"data-{suffix.replace(',', '-').replace('=', '')}"
    directory.mkdir(parents=True, exist_ok=True)
    return f'\ndatabase mdb\nsuffix "{suffix}"\ndirectory {directory}\n'


def _config(base: Path, certs: CertSet, other_suffixes: tuple[str, ...] = ()) -> str:
    schemas = "".join(
        f"include /etc/ldap/schema/{s}.schema\n" for s in ("core", "cosine", "nis", "inetorgperson")
    )
    return f"""{schemas}
# Accept unauthenticated binds (a DN with an empty password), as Active Directory and many
# directories do: the tests prove the bridge never relies on a server refusing them.
allow bind_anon_dn
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {base}/slapd.pid
TLSCACertificateFile {certs.ca}
TLSCertificateFile {certs.cert}
TLSCertificateKeyFile {certs.key}
database mdb
suffix "{BASE}"
rootdn "{ADMIN_DN}"
rootpw {ssha("admin-secret")}
directory {base}/data
overlay memberof
access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to *
    by dn.exact="{SERVICE_DN}" read
    by self read
    by * none
""" + "".join(_other_database(base, s) for s in other_suffixes)  # fmt: skip


@dataclass
class Slapd:
    base: Path
    port: int  # ldap:// (StartTLS)
    tls_port: int  # ldaps://
    proc: subprocess.Popen[bytes] = field(init=False, repr=False)  # set once it is started
    service_password: str = field(repr=False, default="")
    debug: str = "0"  # slapd -d: "stats" logs each operation (BIND dn=..., RESULT err=...)

    @classmethod
    def start(
        cls, base: Path, certs: CertSet, people: list[Person], service_password: str,
        other_suffixes: tuple[str, ...] = (), debug: str = "0",
    ) -> Slapd:  # fmt: skip
        """`other_suffixes`: more (empty) databases, so that the rootDSE names several
        naming contexts. `debug: "stats"`: slapd.log shows every operation."""
        (base / "data").mkdir(parents=True, exist_ok=True)
        config, data = base / "slapd.conf", base / "data.ldif"
        config.write_text(_config(base, certs, other_suffixes))
        data.write_text(_ldif(people, service_password))
        slapadd = ["slapadd", "-q", "-f", str(config), "-l", str(data)]
        subprocess.run(slapadd, check=True, capture_output=True)
        server = cls(base, free_port(), free_port(), service_password=service_password,
                     debug=debug)  # fmt: skip
        server.proc = server._spawn()
        server.add_groups(people)
        return server

    def add_groups(self, people: list[Person]) -> None:
        import ldap3

        conn = ldap3.Connection(self.url, ADMIN_DN, "admin-secret", auto_bind=True)
        for dn, classes, attributes in _groups(people):
            if not conn.add(dn, classes, attributes):
                raise RuntimeError(f"cannot add {dn}: {conn.result}")
        conn.unbind()

    def _spawn(self) -> subprocess.Popen[bytes]:
        urls = f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tls_port}/"
        log = open(self.base / "slapd.log", "wb")  # noqa: SIM115 - the child keeps it
        args = ["slapd", "-d", self.debug, "-f", str(self.base / "slapd.conf"), "-h", urls]
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: proc.poll() is not None or port_open(self.tls_port), 10, "slapd")
        if proc.poll() is not None:
            raise RuntimeError((self.base / "slapd.log").read_text())
        return proc

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def operations(self) -> str:
        """What slapd logged (with debug "stats": one line per operation and result)."""
        return (self.base / "slapd.log").read_text(errors="replace")

    def restart(self) -> None:
        self.stop()
        self.proc = self._spawn()
