"""The Debian package, as an operator meets it: `scripts/build-deb` builds it, apt installs
it on this machine, systemd-analyze verifies the installed unit, `check` runs on the
installed example (and says what to fix), the installed binary serves a real login to the
sandbox MariaDB as the service user, and a purge leaves nothing behind.

It installs a system package, so it runs as root (as CI does) and under the full-suite lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, port_open, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent.parent
ETC = Path("/etc/mysql-auth-bridge")
USER = "mysql-auth-bridge"
LEFT_BEHIND = [Path("/opt/mysql-auth-bridge"), ETC, Path("/var/lib/mysql-auth-bridge"),
               Path("/var/log/mysql-auth-bridge"), Path("/run/mysql-auth-bridge"),
               Path("/usr/bin/mysql-auth-bridge"), Path("/etc/pam.d/mysql-auth-bridge"),
               Path("/lib/systemd/system/mysql-auth-bridge.service"),
               Path("/lib/systemd/system/mysql-auth-bridge.socket"),
               Path("/usr/lib/sysusers.d/mysql-auth-bridge.conf"),
               Path("/usr/lib/tmpfiles.d/mysql-auth-bridge.conf"),
               Path("/usr/share/doc/mysql-auth-bridge")]  # fmt: skip
APT = ["apt-get", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600"]


def run(*cmd: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if check and done.returncode != 0:
        raise AssertionError(f"{cmd}: {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def as_service(*cmd: str) -> list[str]:
    return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", *cmd]


def installed() -> bool:
    return run("dpkg-query", "-W", "-f=${Status}", USER, check=False).stdout.startswith("install")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("the package test installs a Debian package: run it as root (CI does)")
    if installed():  # left by an earlier run that was killed
        run(*APT, "purge", USER)
    # gzip -1, not the release's xz -6: the same contents, 30 s less of compressing on 2 cores
    built = run(str(ROOT / "scripts" / "build-deb"), str(tmp_path_factory.mktemp("deb")), cwd=ROOT,
                env={**os.environ, "DEB_COMPRESSION": "-Zgzip -z1"})  # fmt: skip
    deb = Path(built.stdout.strip().splitlines()[-1])
    run(*APT, "install", "--no-install-recommends", str(deb))
    yield deb
    if installed():
        run(*APT, "purge", USER, check=False)


def test_build_install_verify_check_serve_login_purge(
    package: Path, mariadb: MariaDB, tmp_path: Path
) -> None:
    assert run("/usr/bin/mysql-auth-bridge", "--version").stdout.startswith("mysql-auth-bridge 0.")
    assert run("getent", "passwd", USER).stdout.startswith(f"{USER}:")
    unit = "/lib/systemd/system/mysql-auth-bridge.service"
    verify = run("systemd-analyze", "verify", unit, check=False)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr

    # The installed example, copied into place as docs/operations.md says: check tells
    # what is still missing, each with the config line and how to fix it.
    for example in Path("/usr/share/doc/mysql-auth-bridge/examples").glob("*.yaml"):
        shutil.copy(example, ETC / example.name)
    first = run("mysql-auth-bridge", "check", check=False)
    assert first.returncode == 1 and "Traceback" not in first.stderr
    assert (
        f"{ETC}/bridge.yaml:6: tls.cert: the certificate {ETC}/tls/server.crt does not exist"
        in first.stderr
    )
    assert f"{ETC}/upstream-credentials.yaml: holds a secret and is mode 0644" in first.stderr

    # What the operator does next: the TLS pair by the printed command, the secrets,
    # the addresses, a real password hash.
    hint = first.stderr.split("make a self-signed pair with: ", 1)[1].splitlines()[0]
    run("bash", "-c", hint)
    port = free_port()
    conf = (ETC / "bridge.yaml").read_text()
    (ETC / "bridge.yaml").write_text(conf.replace("0.0.0.0:3307", f"127.0.0.1:{port}")
                                     .replace("127.0.0.1:3306", f"127.0.0.1:{mariadb.port}"))  # fmt: skip
    stored = run("mysql-auth-bridge", "hash-password", input="deb-app-pw\n").stdout.strip()
    accounts = ETC / "accounts.yaml"
    text = accounts.read_text()
    start = text.index('authentication_string: "$A$005$') + len('authentication_string: "')
    accounts.write_text(text[:start] + stored + text[text.index('"', start) :])
    (ETC / "secrets").mkdir(mode=0o750)
    (ETC / "secrets" / "app").write_text("up-app\n")  # the sandbox's upstream 'app' account
    (ETC / "secrets" / "batch").write_text("unused\n")
    secrets = [ETC / "upstream-credentials.yaml", ETC / "secrets" / "app", ETC / "secrets" / "batch",
               ETC / "tls" / "server.key", ETC / "secrets"]  # fmt: skip
    for path in [*secrets, ETC / "bridge.yaml", accounts, ETC / "tls", ETC / "tls" / "server.crt"]:
        shutil.chown(path, "root", USER)
    for path in secrets[:-1]:
        path.chmod(0o640)  # root:mysql-auth-bridge 0640: the usual setup, accepted
    env = {**os.environ, "REPORT_UPSTREAM_PASSWORD": "unused"}
    checked = run(*as_service("/usr/bin/mysql-auth-bridge", "check"), env=env, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "OK (3 account rows)" in checked.stdout

    # The installed binary, as the service user, serves a real login.
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(as_service("/usr/bin/mysql-auth-bridge", "serve"), env=env,
                             stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(lambda: port_open(port) or serve.poll() is not None, 30, "the installed bridge")
        assert serve.poll() is None, (tmp_path / "serve.log").read_text()
        login = run("mariadb", "--no-defaults", "-h127.0.0.1", f"-P{port}", "-uapp", "-pdeb-app-pw",
                    f"--ssl-ca={ETC}/tls/server.crt", "--ssl-verify-server-cert", "-N", "-B",
                    "-e", "SELECT CURRENT_USER()", check=False)  # fmt: skip
        assert login.stdout.strip() == "app@%", login.stderr + (tmp_path / "serve.log").read_text()
        status = run(*as_service("/usr/bin/mysql-auth-bridge", "status"), check=False)
        assert "status: ok" in status.stdout, status.stderr
        assert (Path("/var/lib/mysql-auth-bridge/private_key.pem").stat().st_uid
                == int(run("id", "-u", USER).stdout))  # generated by the service user  # fmt: skip
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        log.close()

    run(*APT, "purge", USER)
    assert not installed()
    left = [str(p) for p in LEFT_BEHIND if p.exists() or p.is_symlink()]
    assert not left, f"left behind after purge: {left}"
    assert run("getent", "passwd", USER, check=False).returncode != 0
    assert run("getent", "group", USER, check=False).returncode != 0
