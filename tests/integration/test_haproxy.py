"""Two bridge instances behind a real HAProxy in TCP mode, with the shipped health check
(/readyz)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bridge.probes import REUSE as PROBE_REUSE
from sandbox.bridgeproc import BridgeProcess
from sandbox.certs import CertSet
from sandbox.ports import free_port, port_open, wait_until
from tests.integration.harness import MakeBridge, bridge_attr, closing, connect, mariadb_cli, scalar
from tests.ldapfix import ldap_settings, start_slapd

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).parent.parent.parent / "deploy" / "haproxy" / "haproxy.cfg"
CHECK_INTERVAL = 0.2  # seconds: `inter` of the test's servers


UP = ("UP", "L7OK")  # in, its last check passed
DOWN = ("DOWN", None)  # out


def haproxy_config(port: int, bridges: list[tuple[int, int]], stats: Path) -> str:
    """deploy/haproxy/haproxy.cfg, with this run's addresses, checks every CHECK_INTERVAL,
    and a stats socket the test reads the servers' states from."""
    text = EXAMPLE.read_text().replace("bind :3306", f"bind 127.0.0.1:{port}")
    text = text.replace("global\n", f"global\n    stats socket {stats} mode 600\n", 1)
    lines = [line for line in text.splitlines() if not line.strip().startswith("server ")]
    inter = f"inter {int(CHECK_INTERVAL * 1000)}ms fall 1 rise 1"
    servers = [f"    server bridge{i} 127.0.0.1:{tcp} send-proxy-v2 check port {metrics} {inter}"
               for i, (tcp, metrics) in enumerate(bridges, 1)]  # fmt: skip
    return "\n".join(lines + servers) + "\n"


def server_states(stats: Path) -> dict[str, tuple[str, str]]:
    """HAProxy's own view of each bridge: name -> (status, last check's status), e.g.
    ("UP", "L7OK"), from `show stat` on the stats socket."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(stats))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, *rows = data.decode().lstrip("# ").splitlines()
    rows = [row for row in rows if row]
    names = header.split(",")
    status, check = names.index("status"), names.index("check_status")
    return {f[1]: (f[status], f[check]) for f in (r.split(",") for r in rows)
            if f[1].startswith("bridge")}  # fmt: skip


def wait_states(front: Front, want: dict[str, tuple[str, str | None]]) -> None:
    """Until HAProxy's checks have put each named bridge in the state wanted: (status,
    last check's status, or None for any)."""

    def reached() -> bool:
        states = server_states(front.stats)
        return all(name in states and states[name][0] == status
                   and check in (None, states[name][1]) for name, (status, check) in want.items())  # fmt: skip

    wait_until(reached, 10, f"HAProxy states {want}")


class Front:
    """The bridge fixture's shape, at HAProxy's address."""

    def __init__(self, port: int, bridge: BridgeProcess, stats: Path) -> None:
        self.port, self.certs, self.socket = port, bridge.certs, bridge.socket
        self.stats = stats  # HAProxy's stats socket


@contextmanager
def behind_haproxy(
    tmp_path: Path, bridges: list[BridgeProcess], metrics: list[int]
) -> Iterator[Front]:
    port, stats = free_port(), tmp_path / "haproxy-stats.sock"
    (tmp_path / "haproxy.cfg").write_text(
        haproxy_config(port, [(b.port, m) for b, m in zip(bridges, metrics, strict=True)], stats)
    )
    proxy = subprocess.Popen(["haproxy", "-f", str(tmp_path / "haproxy.cfg")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: port_open(port) and stats.exists(), 10, "haproxy")
        front = Front(port, bridges[0], stats)
        # the first health checks have passed
        wait_states(front, {f"bridge{i}": UP for i in range(1, len(bridges) + 1)})
        yield front
    finally:
        proxy.terminate()
        proxy.wait()


def proxied_bridges(make_bridge: MakeBridge, metrics: list[int], **sections: Any) -> list[Any]:
    return [
        make_bridge(metrics={"listen": f"127.0.0.1:{m}"},
                    listen={"proxy_protocol_from": ["127.0.0.1/32"]}, **sections)
        for m in metrics
    ]  # fmt: skip


def test_two_bridges_behind_haproxy(tmp_path: Path, make_bridge: MakeBridge) -> None:
    metrics = [free_port(), free_port()]
    bridges = proxied_bridges(make_bridge, metrics)
    with behind_haproxy(tmp_path, bridges, metrics) as front:
        for _ in range(6):
            client = connect("pymysql", front, "nat", "nat-pw", "tls", bind_address="127.0.0.2")
            with closing(client) as conn:
                assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
                assert bridge_attr(conn, "bridge_client_host") == "127.0.0.2"  # the PROXY header's
        assert all("session open" in b.log for b in bridges)  # both took logins (leastconn)
        bridges[0].stop()  # one instance goes away: HAProxy's check takes it out
        wait_states(front, {"bridge1": DOWN, "bridge2": UP})
        for _ in range(3):
            done = mariadb_cli(front, "nat", "nat-pw")
            assert done.stdout.strip() == "nat@%", done.stderr


def test_a_directory_outage_keeps_the_fleet_in_and_a_draining_bridge_goes_out(
    tmp_path: Path, make_bridge: MakeBridge, certs: CertSet
) -> None:
    """The shipped check (/readyz) with a real slapd stopped: both bridges stay in HAProxy
    and store accounts still log in through it, while /healthz reports the outage. A
    bridge draining on SIGTERM says so on /readyz and HAProxy sends logins to the other."""
    slapd = start_slapd(tmp_path / "ldap", certs)
    metrics = [free_port(), free_port()]
    try:
        ldap = ldap_settings(tmp_path, certs, slapd.url)
        bridges = proxied_bridges(make_bridge, metrics, backends={"ldap": ldap},
                                  server={"shutdown_grace": 30})  # fmt: skip
        with behind_haproxy(tmp_path, bridges, metrics) as front:
            assert [scrape(m, "/healthz")[0] for m in metrics] == [200, 200]
            slapd.stop()
            time.sleep(PROBE_REUSE)  # an answer serves the next second's requests too
            for m in metrics:
                status, report = scrape(m, "/healthz")
                assert status == 503 and report["status"] == "degraded", report
                assert report["backends"]["ldap"].startswith("unavailable"), report
                assert scrape(m, "/readyz") == (200, {"upstream": "ok", "status": "ok",
                                                      "sessions": 0})  # fmt: skip
            # Several checks since the outage, out after one failure (/healthz would have
            # taken both out): both still in.
            time.sleep(5 * CHECK_INTERVAL)
            assert server_states(front.stats) == {"bridge1": UP, "bridge2": UP}
            assert_logins_reach(front, bridges, [0, 1])

            held = connect("pymysql", bridges[0], "nat", "nat-pw", "tls", bind_address="127.0.0.2")
            with closing(held):
                bridges[0].signal(signal.SIGTERM)
                bridges[0].wait_log("draining 1 session")
                status, report = scrape(metrics[0], "/readyz")
                assert status == 503 and report["status"] == "draining", report
                assert scrape(metrics[0], "/healthz")[1]["status"] == "draining"
                wait_states(front, {"bridge1": DOWN, "bridge2": UP})
                assert_logins_reach(front, bridges, [1])
                assert scalar(held, "SELECT 'still served'") == "still served"
    finally:
        slapd.stop()


def scrape(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def assert_logins_reach(front: Front, bridges: list[BridgeProcess], which: list[int]) -> None:
    """Logins through HAProxy succeed, and land on exactly the bridges listed."""
    before = [b.log.count("session open") for b in bridges]
    for _ in range(6):
        done = mariadb_cli(front, "nat", "nat-pw")
        assert done.stdout.strip() == "nat@%", done.stderr
    time.sleep(0.2)  # the log lines, written by a thread
    took = [i for i, b in enumerate(bridges) if b.log.count("session open") > before[i]]
    assert took == which


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
