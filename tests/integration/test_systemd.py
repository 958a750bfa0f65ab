"""The systemd side without systemd: the units verify, the notify protocol is spoken to a
fake NOTIFY_SOCKET, and a socket passed by socket activation (LISTEN_FDS) is served."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.bridgeproc import BridgeProcess, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, port_open, wait_until
from tests.integration.harness import ACCOUNTS, MakeBridge, closing, connect, notify_socket, scalar

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).parent.parent.parent / "deploy"


def test_units_verify(tmp_path: Path) -> None:
    binary = Path(sys.executable).parent / "mysql-auth-bridge"
    for unit in ("mysql-auth-bridge.service", "mysql-auth-bridge.socket"):
        text = (
            (DEPLOY / "systemd" / unit)
            .read_text()
            .replace("/usr/bin/mysql-auth-bridge", str(binary))
        )
        (tmp_path / unit).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", *(str(p) for p in sorted(tmp_path.iterdir()))],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Unknown" not in done.stderr and "Failed" not in done.stderr


def test_notify_ready_reloading_stopping(tmp_path: Path, make_bridge: MakeBridge) -> None:
    path = tmp_path / "notify"
    with notify_socket(path) as listener:
        bridge = make_bridge(env={"NOTIFY_SOCKET": str(path)})
        assert listener.recv(4096).decode().startswith("READY=1\nSTATUS=serving")
        bridge.signal(signal.SIGHUP)
        assert listener.recv(4096).decode().startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert listener.recv(4096).decode().startswith("READY=1")
        bridge.signal(signal.SIGTERM)
        assert listener.recv(4096) == b"STOPPING=1"
        bridge.proc.wait(timeout=10)


WRAPPER = """
import os, sys
fd = int(sys.argv[1])
os.dup2(fd, 3)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())  # exec keeps the PID
os.execv(sys.executable, [sys.executable, "-m", "bridge", "serve", "-c", sys.argv[2]])
"""


def test_socket_activation(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> None:
    config_port = free_port()  # what bridge.yaml says: unused when systemd passes a socket
    write_config(tmp_path, config_port, mariadb.port, certs, ACCOUNTS)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    log = open(tmp_path / "bridge.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, str(listener.fileno()), str(tmp_path / "bridge.yaml")],
                            pass_fds=[listener.fileno()], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    listener.close()
    bridge = BridgeProcess(tmp_path, port, tmp_path / "none.sock", certs, proc)
    try:
        wait_until(lambda: "ready" in bridge.log_now, 20, "bridge")
        assert "(from systemd)" in bridge.log
        assert not port_open(config_port)
        with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
    finally:
        bridge.stop()
