"""The sandbox: a throwaway MariaDB and the bridge in front of it, under a temp dir, with
accounts to log in as and the client commands to try. `python -m sandbox.demo`.

--check logs in once with each demo account through the bridge and exits (0 when all worked).
The OpenID provider is npm's oidc-provider (tests/node) over HTTPS with the sandbox's CA.
--ad puts a Samba AD domain controller in place of slapd and the MIT KDC (about 5 s more).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox import samba
from sandbox.bridgeproc import Account, BridgeProcess, add_grants, run_bridge, write_config
from sandbox.certs import CertSet, make_certs
from sandbox.kdc import Kdc
from sandbox.ldap import BASE, SERVICE_DN, Person, Slapd
from sandbox.mariadb import MariaDB
from sandbox.oidc import OidcProvider
from sandbox.pam import PamSandbox
from sandbox.ports import free_port, port_open
from sandbox.samba import AdGroup, AdUser, SambaDC

ROOT = Path(__file__).resolve().parent.parent  # the checkout (sandbox/ is not installed)

DEMO_ACCOUNTS = [
    Account("app", "app-password", "caching_sha2_password", upstream_password="upstream-app"),
    Account("legacy", "legacy-password", "mysql_native_password", "%", "upstream-legacy"),
    # alice's password is checked by the store; her session is the proxied 'developer'.
    Account("alice", "alice-password", "caching_sha2_password"),
    # maria is checked by PAM (pam_wrapper + pam_matrix under the temp dir).
    Account("maria", "", "authentication_pam", "%", "upstream-maria", auth_string="mysql"),
    # kuser logs in with a Kerberos ticket (an MIT KDC under the temp dir), no password.
    Account("kuser", "", "gssapi", "%", "upstream-kuser"),
    # oidcuser logs in with an ID token from an OpenID provider (oidc-provider under the
    # temp dir), sent as the password or by MySQL's client plugin.
    Account(
        "oidcuser",
        "",
        "authentication_openid_connect",
        "%",
        "upstream-oidcuser",
        auth_string='{"identity_provider": "sandbox"}',
    ),
    # Everyone else is looked up in LDAP (slapd under the temp dir) and mapped by group.
    Account("", "", "authentication_ldap_simple", auth_string="#dbadmins=developer,readers=reader"),
]
LDAP_PEOPLE = [Person("ldapuser", "ldap-password", posix_groups=("dbadmins",)),
               Person("reporter", "report-password", named_groups=("readers",))]  # fmt: skip
# --ad: the same people in an Active Directory domain; ldapuser is in dbas, which is in dbadmins.
AD_SERVICE = AdUser("svc-bridge", "service-password", spns=("mysql/localhost",))
AD_USERS = [AdUser("ldapuser", "ldap-password", groups=("dbas",)),
            AdUser("reporter", "report-password", groups=("readers",)),
            AdUser("newhire", "newhire-password", groups=("readers",), must_change=True),
            AdUser("kuser", "kuser-krb-password"), AD_SERVICE]  # fmt: skip
AD_GROUPS = [AdGroup("dbas", member_of=("dbadmins",)), AdGroup("dbadmins"), AdGroup("readers")]
PAM_USERS = [("maria", "maria-pam-password", "mysql")]
UPSTREAM_ONLY = {"developer": "upstream-developer", "reader": "upstream-reader"}
GRANTS = [{"proxy": "'alice'@'%'", "proxied": ["'developer'@'%'"]},
          {"proxy": "''@'%'", "proxied": ["'developer'@'%'", "'reader'@'%'"]}]  # fmt: skip


def setup_upstream(db: MariaDB) -> None:
    db.sql("CREATE DATABASE IF NOT EXISTS shop")
    users = {a.user: a.upstream_password for a in DEMO_ACCOUNTS if a.upstream_password}
    for user, password in {**users, **UPSTREAM_ONLY}.items():
        db.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'")
        db.sql(f"GRANT ALL ON shop.* TO '{user}'@'%'")


Settings = dict[str, object]
OIDC_PEOPLE = {"oidcuser": {"preferred_username": "oidcuser", "groups": ["dbadmins"]}}


def oidc_settings(idp: OidcProvider, certs: CertSet) -> Settings:
    """backends.oidc for the sandbox provider, as docs/oidc.md describes it."""
    return {"providers": [{"name": "sandbox", "issuer": idp.issuer, "ca": str(certs.ca),
                           "audience": "mysql-bridge", "identity_claim": "preferred_username",
                           "groups_claim": "groups"}]}  # fmt: skip


def oidc_commands(
    bridge: BridgeProcess, certs: CertSet, token: Path
) -> list[tuple[str, list[str]]]:
    """An ID token as the password (any client, over TLS), and MySQL's client plugin."""
    tcp = ["-h127.0.0.1", f"-P{bridge.port}", "--protocol=TCP"]
    tls = [f"--ssl-ca={certs.ca}", "--ssl-verify-server-cert"]
    # The token goes in an option file only its owner can read, never on the command line
    # (a --password=... argument is in /proc/<pid>/cmdline for every local user to see);
    # printf and $(cat) are the shell's own, so the token is in no process's arguments.
    options = shlex.quote(str(token.with_suffix(".cnf")))
    write = (f"(umask 077; printf '[client]\\npassword=%s\\n' \"$(cat {shlex.quote(str(token))})\""
             f" > {options})")  # fmt: skip
    cli = shlex.join(["mariadb", f"--defaults-file={token.with_suffix('.cnf')}", *tcp, *tls,
                      "-uoidcuser", "-e", "SELECT USER(), CURRENT_USER()"])  # fmt: skip
    connector = (
        f"import mysql.connector as m; c = m.connect(host='127.0.0.1', port={bridge.port}, "
        f"user='oidcuser', openid_token_file={str(token)!r}, ssl_ca={str(certs.ca)!r}, "
        "use_pure=True); cur = c.cursor(); cur.execute('SELECT CURRENT_USER()'); "
        "print(cur.fetchone()[0])"
    )
    return [
        ("OpenID Connect: oidcuser's ID token as the password (TLS)",
         ["sh", "-c", f"{write} && {cli}"]),
        ("OpenID Connect: MySQL's client plugin (Connector/Python, openid_token_file)",
         [sys.executable, "-c", connector]),
    ]  # fmt: skip


def client_commands(
    bridge: BridgeProcess, certs: CertSet, krb_env: dict[str, str] | None = None, ad: bool = False
) -> list[tuple[str, list[str]]]:
    tcp = ["-h127.0.0.1", f"-P{bridge.port}", "--protocol=TCP"]
    tls = [f"--ssl-ca={certs.ca}", "--ssl-verify-server-cert"]
    query = ["-e", "SELECT USER(), CURRENT_USER(), @@version"]
    sock = f"--socket={bridge.socket}"
    return [
        ("caching_sha2_password over TLS",
         ["mariadb", "--no-defaults", *tcp, *tls, "-uapp", "-papp-password", *query]),
        ("caching_sha2_password without TLS (RSA)",
         ["mariadb", "--no-defaults", *tcp, "--skip-ssl", "-uapp", "-papp-password", *query]),
        ("mysql_native_password over the Unix socket",
         ["mariadb", "--no-defaults", sock, "-ulegacy", "-plegacy-password", *query]),
        ("a proxied account: alice becomes 'developer'",
         ["mariadb", "--no-defaults", *tcp, *tls, "-ualice", "-palice-password", *query]),
        ("PAM (the password goes to the PAM stack)",
         ["mariadb", "--no-defaults", *tcp, *tls, "-umaria", "-pmaria-pam-password", *query]),
        ("LDAP: ldapuser is in group dbadmins, so becomes 'developer'",
         ["mariadb", "--no-defaults", *tcp, *tls, "-uldapuser", "-pldap-password", *query]),
        ("LDAP: reporter is in group readers, so becomes 'reader'",
         ["mariadb", "--no-defaults", *tcp, *tls, "-ureporter", "-preport-password", *query]),
        *([("Kerberos single sign-on: kuser's ticket (kinit), no password",
            ["env", *(f"{k}={v}" for k, v in krb_env.items()),
             "mariadb", "--no-defaults", *tcp, *tls, "-ukuser", *query])] if krb_env else []),
        *([("AD: newhire must change the password first (ERROR 1862)",
            ["mariadb", "--no-defaults", *tcp, *tls, "-unewhire", "-pnewhire-password", *query])]
          if ad else []),
        ("a wrong password (ERROR 1045)",
         ["mariadb", "--no-defaults", *tcp, *tls, "-uapp", "-pnot-it", *query]),
    ]  # fmt: skip


def show(
    bridge: BridgeProcess, db: MariaDB, certs: CertSet, base: Path, krb_env: dict[str, str],
    ad: bool, interactive: bool, idp: OidcProvider | None = None,
) -> None:  # fmt: skip
    print(f"\nmysql-auth-bridge sandbox in {base}")
    print(f"  upstream MariaDB  127.0.0.1:{db.port}   (root: mariadb -uroot --socket={db.socket})")
    print(f"  bridge            127.0.0.1:{bridge.port} and {bridge.socket}")
    print(f"  config            {bridge.config}")
    print(f"  bridge log        {bridge.directory / 'bridge.log'}")
    print(f"  audit log         {bridge.directory / 'audit.jsonl'}\n")
    print("Try:")
    kinit = ["env", *(f"{k}={v}" for k, v in krb_env.items()), "kinit", "kuser"]
    print(f"  # a Kerberos ticket for kuser (password: kuser-krb-password)\n  {shlex.join(kinit)}")
    for title, cmd in client_commands(bridge, certs, krb_env, ad):
        print(f"  # {title}\n  {shlex.join(cmd)}")
    if idp is not None:
        print("  # a fresh ID token for oidcuser from the sandbox's OpenID provider (an hour)")
        print(f"  {shlex.join(token_command(idp, certs))} > {base / 'oidcuser.jwt'}")
        for title, cmd in oidc_commands(bridge, certs, base / "oidcuser.jwt"):
            print(f"  # {title}\n  {shlex.join(cmd)}")
    admin = [sys.executable, "-m", "bridge", "sessions", "-c", str(bridge.config)]
    print(f"  # who is connected (the admin interface)\n  {shlex.join(admin)}")
    print("  # reload after editing accounts.yaml\n  kill -HUP", bridge.proc.pid)
    if interactive:
        print("\nPress Ctrl-C to stop and remove everything.\n", flush=True)
    else:
        print("\nLogging in once each way, then stopping and removing everything:\n", flush=True)


def token_command(idp: OidcProvider, certs: CertSet) -> list[str]:
    """How to get a fresh ID token for oidcuser, from any directory (sandbox/ is not
    installed: PYTHONPATH names the checkout)."""
    return ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "sandbox.oidc", idp.issuer,
            str(certs.ca), "oidcuser"]  # fmt: skip


def self_check(
    bridge: BridgeProcess, certs: CertSet, krb_env: dict[str, str], ad: bool,
    token: Path | None = None,
) -> bool:  # fmt: skip
    ok = True
    oidc = oidc_commands(bridge, certs, token) if token is not None else []
    for title, cmd in client_commands(bridge, certs, krb_env, ad) + oidc:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        error = title.partition("(ERROR ")[2].rstrip(")")  # the error the title promises
        worked = f"ERROR {error}" in done.stderr if error else done.returncode == 0
        ok &= worked
        result = (done.stdout or done.stderr).strip().splitlines()[-1:]
        print(f"{'ok  ' if worked else 'FAIL'} {title}: {result[0] if result else ''}")
    return ok


def online_check(bridge: BridgeProcess, env: dict[str, str]) -> bool:
    """`check --online` on the demo's own configuration passes, and shows the keytab proven
    against the KDC (with --ad, the DC's, which takes no SPN as a client). The demo's bridge
    holds its ports: --skip-ports."""
    cmd = [sys.executable, "-m", "bridge", "check", "--online", "--skip-ports", "-c",
           str(bridge.config)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})  # fmt: skip
    problems = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    proof = [line for line in done.stdout.splitlines() if line.startswith("ok: Kerberos")]
    worked = bool(proof) and not problems and done.returncode == 0
    shown = problems or proof
    print(f"{'ok  ' if worked else 'FAIL'} check --online, the keytab: {shown[0] if shown else ''}")
    return worked


@dataclass
class Directories:
    """slapd and an MIT KDC, or one AD domain controller: what the demo logs in against."""

    parts: list[Slapd | Kdc | SambaDC]
    env: dict[str, str]  # Kerberos configuration for the bridge and the clients
    kdc: Kdc | SambaDC

    def kinit(self, principal: str, password: str, cache: Path) -> None:
        self.kdc.kinit(principal, password, cache)

    def stop(self) -> None:
        for part in self.parts:
            part.stop()


def start_slapd_and_kdc(base: Path, certs: CertSet) -> tuple[Directories, Settings, Settings]:
    slapd = Slapd.start(base / "ldap", certs, LDAP_PEOPLE, "service-password")
    kdc = Kdc.start(base / "krb", {"kuser": "kuser-krb-password"})
    secret = _secret(base, "service-password")
    ldap: Settings = {"servers": [slapd.tls_url], "ca": str(certs.ca), "bind_dn": SERVICE_DN,
                      "bind_password_file": str(secret), "base_dn": BASE}  # fmt: skip
    keytab = kdc.service_keytab("mysql/localhost", base / "krb" / "service.keytab")
    kerberos: Settings = {
        "keytab": str(keytab),
        "service_principal": "mysql/localhost@" + kdc.realm,
    }
    return Directories([slapd, kdc], kdc.env, kdc), ldap, kerberos


def start_ad(base: Path) -> tuple[Directories, Settings, Settings]:
    """The AD settings docs/ldap.md and docs/kerberos.md give, against a Samba DC."""
    dc = SambaDC.start(base, AD_USERS, AD_GROUPS)
    secret = _secret(base, AD_SERVICE.password)
    ldap: Settings = {"servers": [dc.ldaps_url], "ca": str(dc.certs.ca), "bind_dn": AD_SERVICE.dn,
                      "bind_password_file": str(secret), "base_dn": samba.BASE,
                      "user_search_attr": "sAMAccountName", "nested_groups": "ad",
                      "group_search_filter": "(&(objectClass=group)(member={dn}))"}  # fmt: skip
    keytab = dc.export_keytab("mysql/localhost", base / "mysql.keytab")
    kerberos: Settings = {
        "keytab": str(keytab),
        "service_principal": f"mysql/localhost@{samba.REALM}",
    }
    return Directories([dc], dc.env, dc), ldap, kerberos


def _secret(base: Path, password: str) -> Path:
    secret = base / "ldap-bind.secret"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    return secret


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="log in once each way, then exit")
    busy = "bridge port (default 3307, or a free one if 3307 is busy); a busy --port is refused"
    parser.add_argument("--port", type=int, help=busy)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir afterwards")
    parser.add_argument("--ad", action="store_true",
                        help="LDAP and Kerberos from a Samba AD domain controller")  # fmt: skip
    args = parser.parse_args(argv)
    if args.port is not None and port_open(args.port):
        print(f"demo: port {args.port} is in use; choose another --port", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="mysql-auth-bridge-sandbox-"))
    db = bridge = idp = None
    directory: Directories | None = None
    try:
        certs = make_certs(base / "certs")
        db = MariaDB.start(base / "mariadb", certs)
        setup_upstream(db)
        port = args.port or (3307 if not port_open(3307) else free_port())
        pam = PamSandbox.create(base / "pam", PAM_USERS)
        if args.ad:
            directory, ldap, kerberos = start_ad(base / "ad")
        else:
            directory, ldap, kerberos = start_slapd_and_kdc(base, certs)
        krb_env = {**directory.env, "KRB5CCNAME": f"FILE:{base / 'kuser.cc'}"}
        idp = OidcProvider.start(base / "oidc", certs, OIDC_PEOPLE)
        backends = {"pam": pam.config(), "ldap": ldap, "kerberos": kerberos,
                    "oidc": oidc_settings(idp, certs)}  # fmt: skip
        write_config(base / "bridge", port, db.port, certs, DEMO_ACCOUNTS, UPSTREAM_ONLY,
                     frozenset({"alice"}), backends=backends, audit_log="audit.jsonl",
                     admin={"listen": f"unix:{base / 'bridge' / 'admin.sock'}"})  # fmt: skip
        add_grants(base / "bridge" / "accounts.yaml", GRANTS)
        bridge = run_bridge(base / "bridge", port, certs, {**pam.env(), **directory.env})
        show(bridge, db, certs, base, krb_env, args.ad, interactive=not args.check, idp=idp)
        directory.kinit("kuser", "kuser-krb-password", base / "kuser.cc")
        token = base / "oidcuser.jwt"
        token.touch(mode=0o600)
        with token.open("w") as out:  # the printed command, run where a user may be
            subprocess.run(token_command(idp, certs), stdout=out, cwd="/", check=True, timeout=60)
        ok = self_check(bridge, certs, krb_env, args.ad, token)
        ok &= online_check(bridge, {**pam.env(), **directory.env})
        if args.check:
            return 0 if ok else 1
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while bridge.proc.poll() is None:
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for part in (bridge, idp, directory, db):
            if part is not None:
                part.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
