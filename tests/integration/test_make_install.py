"""`make install` (docs/operations.md, "Without the package"), staged under DESTDIR: the
bridge in its own virtualenv under /opt, as the package has it, and
/usr/bin/mysql-auth-bridge, the command the systemd unit runs, linked to it. Before, `make
install` ran `python3 -m pip install --prefix=/usr` into the system Python: Debian 12's pip
put the command in /usr/local/bin, so the unit's ExecStartPre=/usr/bin/mysql-auth-bridge
found nothing (and the quickstart itself says Debian keeps pip out of the system Python)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent.parent
UNIT = ROOT / "deploy" / "systemd" / "mysql-auth-bridge.service"


def test_make_install_puts_the_command_where_the_unit_runs_it(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run(["make", "-C", str(ROOT), "install", f"DESTDIR={stage}"], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    commands = set(re.findall(r"^ExecStart(?:Pre)?=(\S+)", UNIT.read_text(), re.M))
    assert commands == {"/usr/bin/mysql-auth-bridge"}
    link = stage / "usr/bin/mysql-auth-bridge"
    assert os.readlink(link) == "/opt/mysql-auth-bridge/bin/mysql-auth-bridge"
    script = stage / "opt/mysql-auth-bridge/bin/mysql-auth-bridge"
    assert script.read_text().splitlines()[0] == "#!/opt/mysql-auth-bridge/bin/python3"
    python = stage / "opt/mysql-auth-bridge/bin/python3"
    ran = subprocess.run([str(python), "-c", "import bridge, gssapi, ldap3; print(bridge.__file__)"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ran.stdout.startswith(f"{stage}/opt/mysql-auth-bridge/lib/python3"), ran.stderr
    for unit in ("mysql-auth-bridge.service", "mysql-auth-bridge.socket"):
        assert (stage / "lib/systemd/system" / unit).is_file()
    assert (stage / "etc/pam.d/mysql-auth-bridge").is_file()
