"""Two bridge instances behind a real HAProxy in TCP mode, with health checks on /healthz."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from bridge.sandbox.bridgeproc import BridgeProcess
from bridge.sandbox.ports import free_port, port_open, wait_until
from tests.integration.harness import closing, connect, mariadb_cli, scalar

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).parent.parent.parent / "deploy" / "haproxy" / "haproxy.cfg"


def haproxy_config(port: int, bridges: list[tuple[int, int]]) -> str:
    """deploy/haproxy/haproxy.cfg, with this run's addresses."""
    text = EXAMPLE.read_text().replace("bind :3306", f"bind 127.0.0.1:{port}")
    lines = [line for line in text.splitlines() if not line.strip().startswith("server ")]
    servers = [f"    server bridge{i} 127.0.0.1:{tcp} check port {metrics} inter 1s fall 1 rise 1"
               for i, (tcp, metrics) in enumerate(bridges, 1)]  # fmt: skip
    return "\n".join(lines + servers) + "\n"


def test_two_bridges_behind_haproxy(tmp_path: Path, make_bridge) -> None:  # type: ignore[no-untyped-def]
    metrics = [free_port(), free_port()]
    bridges: list[BridgeProcess] = [
        make_bridge(metrics={"listen": f"127.0.0.1:{m}"}) for m in metrics
    ]
    port = free_port()
    (tmp_path / "haproxy.cfg").write_text(
        haproxy_config(port, [(b.port, m) for b, m in zip(bridges, metrics, strict=True)])
    )
    proxy = subprocess.Popen(["haproxy", "-f", str(tmp_path / "haproxy.cfg")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: port_open(port), 10, "haproxy")
        time.sleep(1.5)  # the first health checks

        class Front:  # the bridge fixture's shape, at HAProxy's address
            def __init__(self) -> None:
                self.port, self.certs, self.socket = port, bridges[0].certs, bridges[0].socket

        front = Front()
        for _ in range(6):
            with closing(connect("pymysql", front, "nat", "nat-pw", "tls")) as conn:  # type: ignore[arg-type]
                assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
        assert all("session open" in b.log for b in bridges)  # both took logins (leastconn)
        bridges[0].stop()  # one instance goes away: HAProxy's check takes it out
        time.sleep(2.5)
        for _ in range(3):
            done = mariadb_cli(front, "nat", "nat-pw")  # type: ignore[arg-type]
            assert done.stdout.strip() == "nat@%", done.stderr
    finally:
        proxy.terminate()
        proxy.wait()
