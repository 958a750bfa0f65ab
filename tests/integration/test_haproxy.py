"""Two bridge instances behind a real HAProxy in TCP mode, with health checks on /healthz."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from sandbox.bridgeproc import BridgeProcess
from sandbox.ports import free_port, port_open, wait_until
from tests.integration.harness import MakeBridge, bridge_attr, closing, connect, mariadb_cli, scalar

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).parent.parent.parent / "deploy" / "haproxy" / "haproxy.cfg"


def haproxy_config(port: int, bridges: list[tuple[int, int]]) -> str:
    """deploy/haproxy/haproxy.cfg, with this run's addresses."""
    text = EXAMPLE.read_text().replace("bind :3306", f"bind 127.0.0.1:{port}")
    lines = [line for line in text.splitlines() if not line.strip().startswith("server ")]
    servers = [f"    server bridge{i} 127.0.0.1:{tcp} send-proxy-v2 check port {metrics} inter 1s fall 1 rise 1"
               for i, (tcp, metrics) in enumerate(bridges, 1)]  # fmt: skip
    return "\n".join(lines + servers) + "\n"


def test_two_bridges_behind_haproxy(tmp_path: Path, make_bridge: MakeBridge) -> None:
    metrics = [free_port(), free_port()]
    bridges: list[BridgeProcess] = [
        make_bridge(
            metrics={"listen": f"127.0.0.1:{m}"}, listen={"proxy_protocol_from": ["127.0.0.1/32"]}
        )
        for m in metrics
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
            client = connect("pymysql", front, "nat", "nat-pw", "tls", bind_address="127.0.0.2")
            with closing(client) as conn:
                assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
                assert bridge_attr(conn, "bridge_client_host") == "127.0.0.2"  # the PROXY header's
        assert all("session open" in b.log for b in bridges)  # both took logins (leastconn)
        bridges[0].stop()  # one instance goes away: HAProxy's check takes it out
        time.sleep(2.5)
        for _ in range(3):
            done = mariadb_cli(front, "nat", "nat-pw")
            assert done.stdout.strip() == "nat@%", done.stderr
    finally:
        proxy.terminate()
        proxy.wait()


def test_proxy_header_required_from_trusted_and_not_honoured_from_others(
    make_bridge: MakeBridge,
) -> None:
    from bridge.protocol.proxy_header import build_v2
    from tests.integration.rawclient import Raw

    bridge = make_bridge(listen={"proxy_protocol_from": ["127.0.0.2/32"]})
    # From a trusted address, the header comes first and names the client.
    raw = Raw.connect(bridge.port, source="127.0.0.2")
    raw.send_raw(build_v2("192.0.2.44", 5555, "127.0.0.1", bridge.port))
    assert raw.greeting().server_version
    raw.close()
    # From a trusted address without the header: refused.
    raw = Raw.connect(bridge.port, source="127.0.0.2")
    raw.send_raw(b"\x20\x00\x00\x01" + bytes(32))
    assert raw.closed()
    # From any other address a PROXY header is not honoured: those bytes are a bad handshake.
    raw = Raw.connect(bridge.port)
    raw.greeting()
    raw.send_raw(build_v2("10.0.0.1", 1, "127.0.0.1", 2))
    assert raw.closed()
    assert mariadb_cli(bridge, "nat", "nat-pw").stdout.strip() == "nat@%"
