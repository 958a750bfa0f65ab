"""docs/quickstart.md, run as written: its shell blocks, in order, in one bash script,
against a throwaway MariaDB. The only changes are where things go, so that the test
touches nothing outside its temp dir: the system paths move under it, ports are free ones,
`mariadb -u root` talks to the throwaway server, `apt-get install` becomes a check that the
named packages are installed (CI installs them), `serve` goes to the background until the
script ends, and the client's `-p` prompt gets the password that hash-password was given."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from sandbox.mariadb import MariaDB
from sandbox.ports import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"
PASSWORD = "the app users' password"


def quickstart_blocks() -> list[str]:
    section = QUICKSTART.read_text().split("## Put it in front of your server", 1)[1]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def serve_in_background(base: Path) -> str:
    return (f'mysql-auth-bridge serve > {base}/serve.log 2>&1 & SERVE=$!\n'
            f"trap 'kill $SERVE; wait $SERVE' EXIT\n"
            f"for _ in $(seq 300); do [ -S {base}/run/admin.sock ] && break; sleep 0.1; done\n")  # fmt: skip


def relocate(script: str, base: Path, db: MariaDB, port: int) -> str:
    lines = []
    for line in script.splitlines():
        if line.startswith("apt-get install -y "):
            line = "dpkg-query -W " + line.removeprefix("apt-get install -y ") + " > /dev/null"
        elif line.strip() == "mysql-auth-bridge serve":
            line = serve_in_background(base)
        lines.append(line)
    script = "\n".join(lines)
    for system, moved in (("/opt/mysql-auth-bridge", "opt"), ("/etc/mysql-auth-bridge", "etc"),
                          ("/var/lib/mysql-auth-bridge", "var"), ("/run/mysql-auth-bridge", "run"),
                          ("/usr/local/bin", "bin")):  # fmt: skip
        script = script.replace(system, str(base / moved))
    replacements = {
        "mariadb -u root": f"mariadb --no-defaults -u root --socket={db.socket}",
        "mariadb -h 127.0.0.1": "mariadb --no-defaults -h 127.0.0.1",
        "127.0.0.1:3306": f"127.0.0.1:{db.port}",
        "0.0.0.0:3307": f"127.0.0.1:{port}",
        "-P 3307 -u app -p ": f'-P {port} -u app -p"$QS_PASSWORD" ',
    }
    for text, replacement in replacements.items():
        assert text in script, f"the quickstart no longer says {text!r}: update this test"
        script = script.replace(text, replacement)
    return script


def test_every_quickstart_command_works_as_written(tmp_path: Path, plain_mariadb: MariaDB) -> None:
    base = tmp_path / "qs"
    (base / "bin").mkdir(parents=True)
    script = relocate("\n".join(quickstart_blocks()), base, plain_mariadb, free_port())
    env = {
        **os.environ,
        "PATH": f"{base / 'bin'}:{os.environ['PATH']}",
        "QS_PASSWORD": PASSWORD,
        "MYSQL_AUTH_BRIDGE_CONFIG": f"{base}/etc/bridge.yaml",
    }  # the default -c, moved too
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], input=PASSWORD + "\n",
                          capture_output=True, text=True, timeout=540, cwd=ROOT, env=env)  # fmt: skip
    serve_log = (base / "serve.log").read_text() if (base / "serve.log").exists() else ""
    report = f"{done.stdout}\n{done.stderr}\nserve.log:\n{serve_log}"
    assert done.returncode == 0, report
    out = done.stdout
    assert "mysql-auth-bridge 0." in out  # --version, from the new virtualenv
    assert f"{base}/etc/mysql-auth-bridge/bridge.yaml" not in out  # (paths were relocated)
    assert out.count(f"{base}/etc/bridge.yaml: OK (1 account rows)") == 2, report
    assert f"ok: upstream login as 'app' to 127.0.0.1:{plain_mariadb.port} (no TLS)" in out
    assert "app@127.0.0.1" in out.splitlines(), report  # SELECT CURRENT_USER() through the bridge
    assert "status: ok" in out and "account rows: 1" in out
    assert "id  user  account" in out  # the sessions table
    assert f"reloaded {base}/etc/bridge.yaml" in out
    assert (base / "var" / "private_key.pem").exists()  # generated in the state directory
    assert "Traceback" not in report
