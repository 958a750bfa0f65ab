"""Metrics and health, scraped after real logins."""

from __future__ import annotations

import json
import re
import socket
import struct
import time
import urllib.error
import urllib.request

import pytest

from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from tests.integration.harness import MakeBridge, closing, connect, scalar

pytestmark = pytest.mark.integration


def scrape(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if labels else {}
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_counts_after_real_logins(make_bridge: MakeBridge) -> None:
    port = free_port()
    bridge = make_bridge(metrics={"listen": f"127.0.0.1:{port}"})
    accepted_before = value(scrape(port, "/metrics")[1], "mysql_auth_bridge_sessions_total")
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
        assert scalar(conn, "SELECT REPEAT('x', 100000)") == "x" * 100000
        _, during = scrape(port, "/metrics")
        assert value(during, "mysql_auth_bridge_sessions_active") == 1
    for _ in range(2):
        pytest.raises(Exception, connect, "pymysql", bridge, "nat", "wrong", "tls")
    pytest.raises(Exception, connect, "mysqlclient", bridge, "ghost", "x", "tcp")
    connect("mysqlclient", bridge, "app", "app-pw", "socket").close()
    assert bridge.reload()
    status, text = scrape(port, "/metrics")
    assert status == 200
    m = "mysql_auth_bridge_logins_total"
    assert value(text, m, result="ok", wire_method="mysql_native_password", backend="store") == 1
    methods = ("mysql_native_password", "caching_sha2_password", "sha256_password")
    denied = sum(value(text, m, result="denied", wire_method=w, backend="store") for w in methods)
    assert denied == 3  # two wrong passwords, and the unknown user's decoy
    assert value(text, m, result="ok", wire_method="caching_sha2_password", backend="store") == 1
    assert value(text, "mysql_auth_bridge_login_duration_seconds_count", backend="store") == 5
    assert value(text, "mysql_auth_bridge_sessions_total") - accepted_before == 5
    assert value(text, "mysql_auth_bridge_sessions_active") == 0
    assert value(text, "mysql_auth_bridge_relay_bytes_total", direction="to_client") > 100000
    assert value(text, "mysql_auth_bridge_config_reloads_total", result="ok") == 1


def test_healthz(make_bridge: MakeBridge) -> None:
    port = free_port()
    bridge = make_bridge(metrics={"listen": f"127.0.0.1:{port}"})
    status, text = scrape(port, "/healthz")
    report = json.loads(text)
    assert status == 200 and report["status"] == "ok" and report["upstream"] == "ok"
    assert scrape(port, "/nope")[0] == 404
    down_port = free_port()
    down = make_bridge(metrics={"listen": f"127.0.0.1:{down_port}"},
                       upstream={"address": f"127.0.0.1:{free_port()}", "connect_timeout": 1})  # fmt: skip
    status, text = scrape(down_port, "/healthz")
    report = json.loads(text)
    assert (
        status == 503
        and report["status"] == "degraded"
        and report["upstream"].startswith("unavailable")
    )
    assert bridge.proc.poll() is None and down.proc.poll() is None


def test_the_upstream_probe_is_a_whole_login(make_bridge: MakeBridge, mariadb: MariaDB) -> None:
    """A load balancer polls /readyz every few seconds. A probe that read the greeting and
    hung up was a failed connect to MariaDB (Aborted_connects): at max_connect_errors it
    blocks the bridge's host (1129) until FLUSH HOSTS. A whole login and COM_QUIT is none."""

    def aborted() -> int:
        return int(mariadb.sql("SHOW GLOBAL STATUS LIKE 'Aborted_connects'").split()[1])

    port = free_port()
    make_bridge(metrics={"listen": f"127.0.0.1:{port}"})
    before = aborted()
    for path in ("/readyz", "/healthz") * 3:
        assert scrape(port, path)[0] == 200
    assert aborted() == before


def test_a_checker_that_leaves_before_the_answer_costs_no_error(make_bridge: MakeBridge) -> None:
    """HAProxy's check timeout: the checker resets the connection while the bridge still
    probes a hung upstream. The answer has nobody to go to; the log says no ERROR (uvloop
    used to raise RuntimeError from the write, an unhandled-exception traceback)."""
    hung = socket.create_server(("127.0.0.1", 0))  # accepts, never greets
    port = free_port()
    try:
        bridge = make_bridge(
            metrics={"listen": f"127.0.0.1:{port}", "health_timeout": 0.5},
            upstream={"address": f"127.0.0.1:{hung.getsockname()[1]}", "connect_timeout": 1.5},
        )
        for path in (b"/healthz", b"/readyz"):
            checker = socket.create_connection(("127.0.0.1", port))
            checker.sendall(b"GET " + path + b" HTTP/1.0\r\n\r\n")
            checker.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            checker.close()  # a reset, as HAProxy's
        time.sleep(0.8)  # the probes' budget, and the answers that find nobody
        status, text = scrape(port, "/readyz")  # bounded by health_timeout, not connect_timeout
        assert status == 503 and json.loads(text)["upstream"] == "unavailable: no answer in 0.5 s"
        assert " ERROR " not in bridge.log and "Traceback" not in bridge.log, bridge.log
        assert bridge.proc.poll() is None
    finally:
        hung.close()
