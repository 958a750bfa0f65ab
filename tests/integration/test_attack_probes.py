"""The metrics address takes no credentials: what any local user (or anyone who can reach
it) can make the bridge do through it. A flood of /readyz and /healthz requests must not
turn into as many upstream logins and directory binds, and a flood of connections that
send nothing must not hold the file descriptors the MySQL listeners need."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox.mariadb import MariaDB
from sandbox.ports import free_port
from tests.integration.harness import MakeBridge, closing, connect, scalar
from tests.integration.test_metrics import scrape

pytestmark = pytest.mark.integration


def upstream_connections(db: MariaDB) -> int:
    """Connections the upstream accepted, not counting this question's own."""
    return int(db.sql("SHOW GLOBAL STATUS LIKE 'Connections'").split()[-1]) - 1


def get(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        return int(resp.status)


def test_a_flood_of_health_requests_is_not_a_flood_of_upstream_logins(
    make_bridge: MakeBridge, mariadb: MariaDB
) -> None:
    port = free_port()
    make_bridge(metrics={"listen": f"127.0.0.1:{port}"})
    before = upstream_connections(mariadb)
    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        paths = ["/readyz", "/healthz"] * 150
        statuses = list(pool.map(lambda p: get(port, p), paths))
    took = time.monotonic() - started
    assert statuses == [200] * len(paths)
    logins = upstream_connections(mariadb) - before - 1  # the first question's own
    # one shared probe per second at most (bridge/probes.py), plus one in flight at the end
    assert logins <= took + 2, f"{len(paths)} health requests made {logins} upstream logins"


def test_a_fresh_answer_after_the_reuse_window(make_bridge: MakeBridge, mariadb: MariaDB) -> None:
    port = free_port()
    make_bridge(metrics={"listen": f"127.0.0.1:{port}"})
    before = upstream_connections(mariadb)
    for _ in range(3):
        assert get(port, "/readyz") == 200
        time.sleep(1.1)
    assert upstream_connections(mariadb) - before - 1 == 3  # a checker's every request is asked


def test_connections_that_send_nothing_hold_no_descriptors(make_bridge: MakeBridge) -> None:
    port = free_port()
    bridge = make_bridge(metrics={"listen": f"127.0.0.1:{port}"})
    fds = f"/proc/{bridge.proc.pid}/fd"
    before = len(os.listdir(fds))
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(600)]
    try:
        time.sleep(0.5)  # all accepted
        held = len(os.listdir(fds)) - before
        assert held <= 70, f"600 idle connections hold {held} of the bridge's descriptors"
        status, text = scrape(port, "/healthz")  # a checker still gets its answer
        assert status == 200 and json.loads(text)["status"] == "ok"
        with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
            assert scalar(conn, "SELECT 1") == 1
    finally:
        for sock in idle:
            sock.close()
    assert "metrics: 64 connections waiting without a request" in bridge.log
