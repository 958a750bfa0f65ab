"""Listeners, connection limits, the upstream profile, and signals (SIGHUP reload,
SIGTERM drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal

from bridge import systemd
from bridge.admin import AdminServer, describe_address
from bridge.audit import AuditLog
from bridge.config import ConfigError, restart_note, restart_only_changes, tcp_address
from bridge.errors import TooManyConnections
from bridge.fdlimit import ensure_open_files
from bridge.mapping.accounts import AccountTable
from bridge.metrics import Metrics, MetricsServer
from bridge.netio import Conn
from bridge.probes import SharedProbes
from bridge.protocol.constants import BRIDGE_HOP, DEFAULT_CHARSET, PER_HOP, Capability
from bridge.protocol.packets import HandshakeV10, build_err
from bridge.registry import Entry, SharedMemory
from bridge.reloadproc import ChildUnavailable, read_apart
from bridge.runtime import Files, Runtime, assemble, config_errors, read_files, reading
from bridge.session import Session
from bridge.slots import Slots, source_key
from bridge.state.shared import build_state
from bridge.upstream.health import ask_upstream
from bridge.upstream.login import UpstreamError
from bridge.upstream.pool import UpstreamPool
from bridge.workers import worker_ready

log = logging.getLogger("bridge.server")
RELOAD_SWITCH_INTERVAL = 0.0005  # seconds; Python's default is 0.005
HEALTH_TIMEOUT = 5.0  # seconds for each health probe (metrics.health_timeout's default)
C = Capability

# What the bridge offers before it has seen the upstream: nothing whose meaning on the
# relayed stream depends on the server (no DEPRECATE_EOF, session tracking, query attributes).
FALLBACK_PROFILE = HandshakeV10(
    server_version="8.0.0-mysql-auth-bridge",
    connection_id=0,
    scramble=bytes(20),
    capabilities=C.CLIENT_LONG_PASSWORD | C.CLIENT_FOUND_ROWS | C.CLIENT_LONG_FLAG
    | C.CLIENT_NO_SCHEMA | C.CLIENT_ODBC | C.CLIENT_LOCAL_FILES | C.CLIENT_IGNORE_SPACE
    | C.CLIENT_INTERACTIVE | C.CLIENT_IGNORE_SIGPIPE | C.CLIENT_TRANSACTIONS
    | C.CLIENT_MULTI_STATEMENTS | C.CLIENT_MULTI_RESULTS | C.CLIENT_PS_MULTI_RESULTS
    | BRIDGE_HOP,
    charset=DEFAULT_CHARSET,
    status=2,
    auth_plugin="mysql_native_password",
)  # fmt: skip


class ClientConn(Conn):
    __slots__ = ("kind", "server")

    def __init__(
        self, server: BridgeServer, kind: Literal["tcp", "socket"], loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(loop)
        self.server = server
        self.kind: Literal["tcp", "socket"] = kind

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server.on_connection(self)


class BridgeServer:
    def __init__(
        self, runtime: Runtime, worker: int | None = None, shared_unix: socket.socket | None = None,
        shared: SharedMemory | None = None, workers: int = 1,
    ) -> None:  # fmt: skip
        """`worker`: this process's index under --workers (None: the only process), of
        `workers`; `shared_unix`: the Unix socket the parent bound for all workers;
        `shared`: the workers' session registry, made before the fork."""
        self.worker = worker
        self.workers = workers
        self.shared_unix = shared_unix
        self.runtime = runtime
        self.started_with = runtime.config  # what a reload cannot change (listeners, logging)
        self.audit = AuditLog(runtime.config.audit_log)
        upstream = runtime.config.upstream
        self.pool = UpstreamPool(upstream.pool, upstream.connect_timeout)
        self.metrics = Metrics()
        self.metrics.pool_idle.set_function(lambda: self.pool.idle)
        self.metrics.pool_reused.set_function(lambda: self.pool.reused)
        self.metrics.pool_discarded.set_function(lambda: self.pool.discarded)
        self.metrics.directory_failures.set_function(self._directory_failures)
        self.metrics.oidc_keys_age.set_function(self._oidc_keys_age)
        self._metrics_server: MetricsServer | None = None
        self.state = build_state(runtime.config, worker, shared)  # throttle, caches, KILL
        self.throttle = self.state.throttle
        self.registry = self.state.registry
        self._ids = self.state.ids
        self.metrics.state_up.set_function(lambda: self.state.metrics["up"])
        self.metrics.state_errors.set_function(lambda: self.state.metrics["errors"])
        self.profile = FALLBACK_PROFILE
        self.sessions: dict[asyncio.Task[None], Session] = {}
        self.slots = Slots()
        self.session_count = 0
        self.started = time.monotonic()
        self.last_reload_error: str | None = None
        self.restart_pending: tuple[str, ...] = ()  # restart-only settings the files changed
        self._admin: AdminServer | None = None
        self._listeners: list[asyncio.Server] = []
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task[bool]] = set()
        self._probes = SharedProbes()  # one probe at a time, whoever asks (bridge/probes.py)

    # --- upstream profile -------------------------------------------------------------------

    async def refresh_profile(self) -> None:
        """Learn the upstream's version and capabilities from its greeting."""
        try:
            greeting = await ask_upstream(self.runtime.upstream, self.runtime.credentials)
        except UpstreamError as exc:
            log.warning("upstream not reachable yet, offering a conservative greeting: %s", exc)
            return
        self.learn_profile(greeting)

    def learn_profile(self, greeting: HandshakeV10) -> None:
        if greeting.capabilities != self.profile.capabilities:
            log.info("upstream %s: %s", self.runtime.upstream.describe(), greeting.server_version)
        self.profile = greeting

    async def remote_session(self, bridge_id: int) -> Entry | None:
        """KILL of a session another worker or instance holds (shared state only)."""
        return await self.state.remote_session(bridge_id)

    def client_capabilities(self, tls: bool) -> int:
        """The greeting's capabilities: the upstream's session bits plus this hop's own."""
        caps = (self.profile.capabilities & ~PER_HOP) | BRIDGE_HOP
        return caps | C.CLIENT_SSL if tls else caps

    # --- connections ------------------------------------------------------------------------

    def on_connection(self, conn: ClientConn) -> None:
        source = self._source(conn)
        if self._stop.is_set() or not self.slots.admit(source, self.runtime.config.server):
            self.metrics.refused_connections.inc()
            # Before the greeting the client has said nothing: as MariaDB 10.11 refuses a
            # connection over its limit there, `ff 10 04 Too many connections`, no SQLSTATE.
            conn.send_packet(build_err(TooManyConnections().to_err(), protocol_41=False), 0)
            conn.close()
            return
        session = Session(self, conn, conn.kind, self._ids.take(self.registry))
        session.slot = source
        task = conn.loop.create_task(session.run())
        self.sessions[task] = session
        self.session_count += 1
        self.metrics.sessions.inc()
        self.metrics.sessions_active.inc()
        task.add_done_callback(self._session_ended)

    def _source(self, conn: ClientConn) -> str | None:
        """Whose handshake slots a connection takes: its address (None for the Unix socket
        and for trusted load balancers, which speak for many clients)."""
        peer = conn.transport.get_extra_info("peername") if conn.transport else None
        if conn.kind != "tcp" or not isinstance(peer, tuple):
            return None
        if self.runtime.config.listen.trusts_proxy(peer[0]):
            return None
        return source_key(str(peer[0]))  # an IPv4 address, or an IPv6 /64

    def promote_slot(self, source: str | None) -> None:
        """A login succeeded: its handshake slot becomes a session slot, or ERROR 1040."""
        if not self.slots.promote(source, self.runtime.config.server.max_connections):
            self.metrics.refused_connections.inc()
            raise TooManyConnections()

    def release_slot(self, source: str | None, authenticated: bool) -> None:
        self.slots.release(source, authenticated)

    def _session_ended(self, task: asyncio.Task[None]) -> None:
        self.sessions.pop(task, None)
        self.metrics.sessions_active.dec()

    async def start(self) -> None:
        await self.state.start()
        self.state.attach(self.runtime)
        await self.refresh_profile()
        if self.runtime.config.metrics is not None:
            self._metrics_server = MetricsServer(self.metrics, self.health, self.readiness)
            host, port = tcp_address(self.runtime.config.metrics.listen)
            await self._listen_or_explain(
                "metrics.listen", self._metrics_server.start(host, port + (self.worker or 0))
            )
        if self.runtime.config.admin is not None:
            self._admin = AdminServer(self, self.runtime.config.admin)
            await self._admin.start()
        activated = systemd.listen_sockets()
        if activated:
            await self._listen_activated(activated)
            return
        loop = asyncio.get_running_loop()
        listen = self.runtime.config.listen
        for text in listen.tcp:
            host, port = tcp_address(text)
            server = await self._listen_or_explain(f"listen.tcp {text}", loop.create_server(
                lambda: ClientConn(self, "tcp", loop), host, port, reuse_address=True,
                reuse_port=self.worker is not None, backlog=1024,
            ))  # fmt: skip
            self._listeners.append(server)
            log.info("listening on %s", text)
        if self.shared_unix is not None:
            await self._listen_activated([self.shared_unix], "bound once for the workers")
        elif listen.unix is not None:
            await self._listen_unix(listen.unix)

    @staticmethod
    async def _listen_or_explain(what: str, start: Awaitable[Any]) -> Any:
        """A port in use or a missing directory is a one-line error, not a traceback."""
        try:
            return await start
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(f"{what}: cannot listen: {reason}") from None

    async def _listen_activated(
        self, sockets: list[socket.socket], source: str = "from systemd"
    ) -> None:
        """Listen on sockets bound elsewhere: by systemd (socket activation: 'listen' in the
        config is unused), or by the parent of --workers (the Unix socket)."""
        loop = asyncio.get_running_loop()
        for sock in sockets:
            kind: Literal["tcp", "socket"] = "socket" if sock.family == socket.AF_UNIX else "tcp"
            sock.setblocking(False)
            server = await loop.create_server(self._factory(kind, loop), sock=sock, backlog=1024)
            self._listeners.append(server)
            log.info("listening on %s (%s)", _describe(sock), source)

    def _factory(
        self, kind: Literal["tcp", "socket"], loop: asyncio.AbstractEventLoop
    ) -> Callable[[], ClientConn]:
        return lambda: ClientConn(self, kind, loop)

    async def _listen_unix(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            if path.is_socket():
                path.unlink()
        loop = asyncio.get_running_loop()
        server = await self._listen_or_explain(
            f"listen.unix {path}",
            loop.create_unix_server(
                lambda: ClientConn(self, "socket", loop), str(path), backlog=1024
            ),
        )
        # Like mysqld.sock: authentication decides who gets in, not the file mode.
        os.chmod(path, 0o777)  # noqa: S103
        self._listeners.append(server)
        log.info("listening on unix:%s", path)

    # --- lifecycle --------------------------------------------------------------------------

    def request_reload(self) -> None:
        """SIGHUP: reload in the background; reloads asked for meanwhile run one after
        the other, each reading the files as they are then."""
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def reload(self) -> bool:
        """Read and validate every file off the event loop (sessions and logins go on
        meanwhile), then swap the new runtime in at once; a broken file keeps the running
        one."""
        async with self._reload_lock:
            systemd.reloading()
            try:
                runtime = await self._build_off_loop()
            except Exception as exc:  # whatever it is, the running configuration stays
                detail = str(exc)
                if not isinstance(exc, ConfigError):
                    detail = f"{type(exc).__name__}: {exc}"
                self.last_reload_error = detail
                # One line (log shippers split on newlines): the errors joined with ' | '.
                log.error(
                    "reload failed, keeping the running configuration: %s",
                    " | ".join(line.strip() for line in detail.splitlines() if line.strip()),
                )
                self.metrics.reloads.labels("failed").inc()
                systemd.ready("running; the last reload failed, see the log")
                return False
            self._apply(runtime)
            return True

    async def _build_off_loop(self) -> Runtime:
        """The files read and validated by a child process (bridge/reloadproc.py), taken
        in a slice at a time, so that sessions and logins go on meanwhile; then the TLS
        context, keys and backends in a thread. The new rows' objects meet the cyclic GC
        in its young collections as they come, not all at once after the reload."""
        path = self.runtime.config_path
        with config_errors(path), _gil_handed_often():
            try:
                files, table = await read_apart(path)
            except ChildUnavailable as exc:
                log.warning("reload: %s; reading them in a thread instead", exc)
                files = await asyncio.to_thread(_read_in_thread, path)
                table = AccountTable(files.rows)
            return await asyncio.to_thread(assemble, path, files, table, self.runtime, False)

    def _apply(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.last_reload_error = None
        self.pool.clear(runtime.config.upstream.pool)  # credentials or the upstream may differ
        self.pool.timeout = runtime.config.upstream.connect_timeout
        self.metrics.reloads.labels("ok").inc()
        self.throttle.config = runtime.config.protection
        self.state.attach(runtime)
        ensure_open_files(runtime.config_path, runtime.config)  # max_connections may be higher
        self.restart_pending = tuple(restart_only_changes(self.started_with, runtime.config))
        if self.restart_pending:
            log.warning("reload: %s", restart_note(self.restart_pending))
        try:
            self.audit.retarget(runtime.config.audit_log)  # also how the audit file is rotated
        except OSError as exc:
            log.error("reload: cannot open the audit log %s: %s", runtime.config.audit_log, exc)
        log.info("configuration reloaded from %s", runtime.config_path)
        asyncio.get_running_loop().create_task(self.refresh_profile())
        systemd.ready(self._status())

    async def health(self) -> dict[str, Any]:
        """Is the upstream reachable, and does every configured backend answer? The probes
        run at once, so the answer comes within one health_timeout; each is shared with
        whoever else asks within a second (bridge/probes.py)."""
        probes = {name: backend.check for name, backend in self.runtime.backends.items()
                  if hasattr(backend, "check")}  # fmt: skip
        shared = self.state.probe  # state.backend redis: what every bridge shares
        upstream, *states = await asyncio.gather(
            self._upstream_state(),
            *(self._probes.ask(f"backend {name}", partial(self._check, probe))
              for name, probe in probes.items()),
            *((self._probes.ask("state", partial(self._check, shared)),)
              if shared is not None else ()),
        )  # fmt: skip
        backends = dict(zip(probes, states[: len(probes)], strict=True))
        report: dict[str, Any] = {"upstream": upstream, "backends": backends}
        if shared is not None:
            report["state"] = states[-1]
        healthy = all(s == "ok" for s in (upstream, *states))
        report["status"] = self._draining_or("ok" if healthy else "degraded")
        report["sessions"] = len(self.sessions)
        return report

    async def readiness(self) -> dict[str, Any]:
        """GET /readyz, for load balancers: can this bridge serve? Only its own faults
        count (draining, the upstream unreachable from here); the directories, KDCs and
        providers every bridge shares are /healthz's, since taking every bridge out for
        them would also refuse the logins that do not need them."""
        report: dict[str, Any] = {"upstream": "not asked: draining"}
        if not self._stop.is_set():
            report["upstream"] = await self._upstream_state()
        report["status"] = self._draining_or("ok" if report["upstream"] == "ok" else "unavailable")
        report["sessions"] = len(self.sessions)
        return report

    def _draining_or(self, status: str) -> str:
        return "draining" if self._stop.is_set() else status

    async def _upstream_state(self) -> str:
        return await self._probes.ask("upstream", partial(self._check, self._upstream_ok))

    async def _upstream_ok(self) -> None:
        self.learn_profile(await ask_upstream(self.runtime.upstream, self.runtime.credentials))

    async def _check(self, probe_call: Callable[[], Awaitable[None]]) -> str:
        """'ok', or 'unavailable: ' and why: the exception's text (its class when it has
        none), or the budget when the probe did not answer within it."""
        metrics = self.started_with.metrics
        budget = metrics.health_timeout if metrics is not None else HEALTH_TIMEOUT
        bound = asyncio.timeout(budget)
        try:
            async with bound:
                await probe_call()
        except Exception as exc:
            if bound.expired():
                return f"unavailable: no answer in {budget:g} s"
            return f"unavailable: {exc or type(exc).__name__}"
        return "ok"

    def _directory_failures(self) -> float:
        ldap = self.runtime.backends.get("ldap")
        return float(getattr(ldap, "outages", 0))

    def _oidc_keys_age(self) -> float:
        oldest = getattr(self.runtime.backends.get("oidc"), "oldest_keys", None)
        return float(oldest()) if oldest is not None else 0.0

    def stop(self) -> None:
        self._stop.set()

    async def serve(self, reload_first: bool = False) -> None:
        """`reload_first`: a worker started again after one died reads the files as they
        are now before it listens, as its siblings have them since their last reload (a
        broken file: it keeps the configuration read at start, and the log says so)."""
        loop = asyncio.get_running_loop()
        if reload_first:
            await self.reload()
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        await self.start()
        log.info("ready")
        if self.worker is None:
            systemd.ready(self._status())
        else:
            worker_ready(self.worker)
        await self._stop.wait()
        systemd.stopping()
        await self.drain()

    def _status(self) -> str:
        return (f"serving {len(self.runtime.accounts.rows)} account rows, "
                f"upstream {self.runtime.upstream.describe()}")  # fmt: skip

    async def drain(self) -> None:
        """Stop accepting, let sessions finish for up to shutdown_grace, then close them."""
        for server in self._listeners:
            server.close()
        if self._admin is not None:
            self._admin.close()
        grace = self.runtime.config.server.shutdown_grace
        if self.sessions:
            log.info("draining %d session(s) for up to %.0f s", len(self.sessions), grace)
            _, pending = await asyncio.wait(set(self.sessions), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._metrics_server is not None:  # open until here: /readyz said 'draining'
            self._metrics_server.close()
        unix = self.started_with.listen.unix  # the path bound at start, whatever a reload says
        if unix is not None and self.worker is None:
            with contextlib.suppress(OSError):
                unix.unlink()
        await self.pool.close()
        await self.state.close()
        self.audit.close()  # every queued audit record written
        log.info("stopped")


@contextlib.contextmanager
def _gil_handed_often() -> Iterator[None]:
    """While a thread works for the reload, it hands the GIL to the event loop sooner
    (restored afterwards, also when the reload fails)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(RELOAD_SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _describe(sock: socket.socket) -> str:
    """A listening socket's address as the config writes it: 'host:port' or 'unix:/path'."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return describe_address(name) if name else "an unnamed unix socket"
    return describe_address((name[0], name[1]))


def _read_in_thread(path: Path) -> Files:
    with reading(path):
        return read_files(path)
