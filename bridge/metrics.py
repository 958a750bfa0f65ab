"""Prometheus metrics and health checks, served on their own address from the event loop:
GET /metrics (the text exposition format), GET /healthz (JSON; 200 when the upstream and
every configured backend answer, 503 otherwise) and GET /readyz (JSON; 200 unless this
bridge cannot serve through faults of its own: the upstream unreachable, or draining; for
load balancers, since a directory outage affects every bridge alike)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bridge.waiting import WaitingClients

log = logging.getLogger("bridge.metrics")
PREFIX = "mysql_auth_bridge"


READ_TIMEOUT = 10.0  # seconds for a request's head (bridge/waiting.py bounds how many wait)

LOGIN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.logins = Counter(
            f"{PREFIX}_logins_total", "Login and COM_CHANGE_USER attempts",
            ["result", "wire_method", "backend"], registry=r,
        )  # fmt: skip
        self.login_seconds = Histogram(
            f"{PREFIX}_login_duration_seconds", "Time an attempt took, from its first packet",
            ["backend"], registry=r, buckets=LOGIN_BUCKETS,
        )  # fmt: skip
        self.backend_outages = Counter(
            f"{PREFIX}_backend_outages_total", "Logins a backend could not answer",
            ["backend"], registry=r,
        )  # fmt: skip
        self.sessions_active = Gauge(f"{PREFIX}_sessions_active", "Open connections", registry=r)
        self.sessions = Counter(f"{PREFIX}_sessions_total", "Connections accepted", registry=r)
        self.refused_connections = Counter(
            f"{PREFIX}_refused_connections_total",
            "Connections refused with 1040: session, handshake or per-source limit",
            registry=r,
        )
        self.relay_bytes = Counter(
            f"{PREFIX}_relay_bytes_total", "Bytes written, by direction", ["direction"], registry=r
        )
        self.reloads = Counter(
            f"{PREFIX}_config_reloads_total", "Configuration reloads", ["result"], registry=r
        )
        self.directory_failures = Gauge(
            f"{PREFIX}_ldap_server_failures", "LDAP servers found failing, since start", registry=r
        )
        self.state_up = Gauge(
            f"{PREFIX}_state_up",
            "1 if the state engine answered its last call (memory: 1)",
            registry=r,
        )
        self.state_errors = Gauge(
            f"{PREFIX}_state_errors",
            "Calls to the state engine that failed or timed out",
            registry=r,
        )
        self.oidc_keys_age = Gauge(
            f"{PREFIX}_oidc_keys_age_seconds",
            "Seconds since the OpenID provider whose keys are oldest was last fetched", registry=r,
        )  # fmt: skip
        self.pool_idle = Gauge(
            f"{PREFIX}_upstream_pool_idle", "Upstream connections kept idle", registry=r
        )
        self.pool_reused = Gauge(
            f"{PREFIX}_upstream_pool_reused", "Sessions given a kept connection, since start",
            registry=r,
        )  # fmt: skip
        self.pool_discarded = Gauge(
            f"{PREFIX}_upstream_pool_discarded",
            "Kept or returning connections closed as unfit for reuse, since start", registry=r,
        )  # fmt: skip

        # Resolved label children, kept: labels() costs a lock and a lookup on every login.
        self._login_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._to_client = self.relay_bytes.labels("to_client")
        self._to_upstream = self.relay_bytes.labels("to_upstream")

    def login(self, result: str, wire_method: str, backend: str, seconds: float) -> None:
        key = (result, wire_method, backend)
        children = self._login_children.get(key)
        if children is None:
            children = (self.logins.labels(*key), self.login_seconds.labels(backend))
            self._login_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def relayed(self, to_client: int, to_upstream: int) -> None:
        self._to_client.inc(to_client)
        if to_upstream:
            self._to_upstream.inc(to_upstream)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


Probe = Callable[[], Awaitable[dict[str, Any]]]


class MetricsServer:
    def __init__(self, metrics: Metrics, health: Probe, ready: Probe) -> None:
        self.metrics = metrics
        self.probes: dict[bytes, Probe] = {b"/healthz": health, b"/readyz": ready}
        self.server: asyncio.Server | None = None
        self.waiting = WaitingClients("metrics")

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._handle, host, port)
        log.info("metrics and health on http://%s:%d/", host, port)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.waiting.arrived(writer.transport)
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                try:
                    request = await reader.readuntil(b"\r\n\r\n")
                finally:
                    self.waiting.done(writer.transport)
                method, path = [*request.split(b" ", 2), b"", b""][:2]
                status, ctype, body = await self._route(method, path.split(b"?")[0])
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            writer.close()
            return
        head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n")  # fmt: skip
        try:
            writer.write(head.encode() + body)
            await writer.drain()
        except (ConnectionError, RuntimeError):
            # The checker gave up first (HAProxy's check timeout): nobody to answer. uvloop
            # raises RuntimeError for a write on a transport the peer already reset.
            log.debug("a metrics or health client left before its answer")
        finally:
            writer.close()

    async def _route(self, method: bytes, path: bytes) -> tuple[str, str, bytes]:
        if method != b"GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == b"/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, self.metrics.exposition()
        probe = self.probes.get(path)
        if probe is None:
            return "404 Not Found", "text/plain", b"/metrics, /healthz or /readyz\n"
        report = await probe()
        status = "200 OK" if report["status"] == "ok" else "503 Service Unavailable"
        return status, "application/json", json.dumps(report).encode() + b"\n"
