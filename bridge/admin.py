"""The runtime admin interface: one JSON object a line in, one a line out.

Request:  {"command": "sessions"}  (plus "token" on a TCP listener, and the command's
arguments: "id" for kill, "user" and "host" for unlock).
Response: {"ok": true, "result": ...} or {"ok": false, "error": "..."}.

It listens on its own socket, never on the MySQL port: a Unix socket of mode 0600 (only the
service's user, and root, may talk to it), or TCP with a token from a secrets file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from bridge.admintoken import read_token, token_warnings
from bridge.config import AdminConfig, ConfigError, parse_address, restart_note
from bridge.plugins import PLUGINS
from bridge.registry import Entry
from bridge.runtime import Runtime
from bridge.session import Session
from bridge.state.engine import StateUnavailable
from bridge.state.registry import SLOT_BITS
from bridge.state.throttle import PartlyUnlocked, ThrottleState
from bridge.waiting import WaitingClients

log = logging.getLogger("bridge.admin")
MAX_REQUEST = 64 * 1024


class Served(Protocol):
    """What the admin commands see of the service (BridgeServer provides it)."""

    @property
    def runtime(self) -> Runtime: ...
    @property
    def worker(self) -> int | None: ...
    @property
    def workers(self) -> int: ...
    @property
    def started(self) -> float: ...
    @property
    def sessions(self) -> Mapping[asyncio.Task[None], Session]: ...
    @property
    def session_count(self) -> int: ...
    @property
    def last_reload_error(self) -> str | None: ...
    @property
    def restart_pending(self) -> tuple[str, ...]: ...
    @property
    def throttle(self) -> ThrottleState: ...

    async def reload(self) -> bool: ...

    async def health(self) -> dict[str, Any]: ...

    async def remote_session(self, bridge_id: int) -> Entry | None: ...


Handler = Callable[[Served, dict[str, Any]], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}


class AdminError(Exception):
    """A request the admin interface refuses; the text goes back to the caller."""


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


def address_for(config: AdminConfig, worker: int | None) -> tuple[str, int] | str:
    """Under --workers each worker has its own: 'admin.sock.N', or port + N."""
    address = parse_address(config.listen)
    if worker is None:
        return address
    if isinstance(address, str):
        return f"{address}.{worker}"
    return address[0], address[1] + worker


def describe_address(address: tuple[str, int] | str) -> str:
    """As admin.listen writes it: 'unix:/path' or 'host:port' ('[v6]:port')."""
    if isinstance(address, str):
        return f"unix:{address}"
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- what each command does ------------------------------------------------------------------


def describe_session(session: Session) -> dict[str, Any]:
    auth = session.current
    peer = session.conn.transport.get_extra_info("peername") if session.conn.transport else None
    client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unix socket"
    return {
        "id": session.id,
        "state": "relaying" if session.upstream is not None else "authenticating",
        "user": auth.identity.name if auth else session.attempt_user,
        "account": auth.decision.account if auth else None,
        "proxied": auth.decision.proxied if auth else None,
        "client": client,
        "method": auth.wire_method if auth else None,
        "backend": PLUGINS[auth.row.plugin].backend if auth else None,
        "since": session.started,
        "bytes_from_client": session.conn.bytes_in,
        "bytes_to_client": session.conn.bytes_out,
    }


@handler("sessions")
async def sessions(server: Served, _: dict[str, Any]) -> Any:
    return [describe_session(s) for s in sorted(server.sessions.values(), key=lambda s: s.id)]


@handler("kill")
async def kill(server: Served, request: dict[str, Any]) -> Any:
    wanted = request.get("id")
    for task, session in server.sessions.items():
        if session.id == wanted:
            session.log.info("killed through the admin interface")
            task.cancel()
            return {"killed": wanted}
    if isinstance(wanted, int) and await server.remote_session(wanted) is not None:
        raise AdminError(  # state.backend redis: the id is another instance's
            f"no session {wanted} on this bridge: another bridge sharing the state engine "
            f"holds it (instance slot {wanted >> SLOT_BITS}); end it through that bridge's "
            f"admin interface, or with `KILL {wanted}` from a client of any bridge"
        )
    raise AdminError(f"no session {wanted!r}")


@handler("reload")
async def reload(server: Served, _: dict[str, Any]) -> Any:
    if not await server.reload():
        raise AdminError(
            f"reload failed, keeping the running configuration:\n{server.last_reload_error}"
        )
    done: dict[str, Any] = {"reloaded": str(server.runtime.config_path)}
    if server.restart_pending:  # taken, but these wait for a restart (as the log says)
        done["restart_pending"] = list(server.restart_pending)
        done["warning"] = restart_note(server.restart_pending)
    return done


def _digest(path: Path) -> str:
    """A file's digest now, for a runtime that did not record the one it loaded (built
    by hand, as in tests); a running bridge's come from the reads (runtime.digests)."""
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


@handler("status")
async def status(server: Served, _: dict[str, Any]) -> Any:
    """Digests of the files that define who gets in (not of the secrets files), health,
    counts."""
    rt = server.runtime
    files = [rt.config_path, *rt.config.accounts]
    health = await server.health()
    return {
        "pid": os.getpid(),
        "worker": server.worker,
        "uptime": round(time.monotonic() - server.started, 1),
        "config": {str(path): rt.digests.get(str(path)) or _digest(path) for path in files},
        "upstream": {"address": rt.upstream.describe(), "state": health["upstream"]},
        "backends": health["backends"],
        **({"state": health["state"]} if "state" in health else {}),
        "status": health["status"],
        "sessions": len(server.sessions),
        "sessions_total": server.session_count,
        "account_rows": len(rt.accounts.rows),
        "last_reload_error": server.last_reload_error,
    }


# 'localhost' as the client's errors and the log name it: the Unix socket, and (with
# server.skip_name_resolve false, the default) TCP clients from a loopback address
LOCALHOST = ("localhost", "127.0.0.1", "::1")


def _addresses(host: str | None) -> tuple[str | None, ...]:
    return LOCALHOST if host is not None and host.lower() == "localhost" else (host,)


@handler("unlock")
async def unlock(server: Served, request: dict[str, Any]) -> Any:
    user, host = request.get("user"), request.get("host")
    if not isinstance(user, str) or not (host is None or isinstance(host, str)):
        raise AdminError("unlock takes a user name, and optionally a host")
    try:
        forgotten = 0
        for address in _addresses(host):
            forgotten += await server.throttle.unlock(user, address)
    except PartlyUnlocked as exc:
        log.warning("admin: unlock %r (host %r): %d record(s) this process kept forgotten; "
                    "the shared ones not: %s", user, host, exc.records, exc)  # fmt: skip
        raise AdminError(
            f"unlock: {exc}: the failed logins and locks in it are not forgotten (this bridge "
            f"forgot the {exc.records} record(s) it kept itself, so it no longer refuses the "
            "account while the engine is down); run unlock again once it answers"
        ) from None
    except StateUnavailable as exc:
        raise AdminError(f"unlock: {exc}; run unlock again once it answers") from None
    log.info("admin: unlocked %r (host %r): %d failure record(s) forgotten", user, host, forgotten)
    return {"user": user, "host": host, "records": forgotten}


# --- the listener ----------------------------------------------------------------------------


class AdminServer:
    def __init__(self, server: Served, config: AdminConfig) -> None:
        self.server = server
        self.config = config
        self.token = read_token(config)
        for warning in token_warnings(config):
            log.warning("%s", warning)
        self.address = address_for(config, server.worker)
        self._listener: asyncio.Server | None = None
        self.waiting = WaitingClients("admin")

    async def start(self) -> None:
        address = self.address
        try:
            if isinstance(address, str):
                self._listener = await self._start_unix(Path(address))
            else:
                self._listener = await asyncio.start_server(
                    self._client, *address, limit=MAX_REQUEST
                )
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            where = describe_address(address)  # under --workers, this worker's own
            raise ConfigError(f"admin.listen {where}: cannot listen: {reason}") from None
        log.info("admin interface on %s", describe_address(self.address))

    async def _start_unix(self, path: Path) -> asyncio.Server:
        with contextlib.suppress(FileNotFoundError):
            if path.is_socket():
                path.unlink()
        old = os.umask(0o177)  # created 0600: no moment when others could connect
        try:
            return await asyncio.start_unix_server(self._client, str(path), limit=MAX_REQUEST)
        finally:
            os.umask(old)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if isinstance(self.address, str):
            with contextlib.suppress(OSError):
                Path(self.address).unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.waiting.arrived(writer.transport)
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), 10)
            except ValueError:  # longer than the reader's limit (MAX_REQUEST): refused below
                line = b""
            finally:
                self.waiting.done(writer.transport)
            writer.write(json.dumps(await self.answer(line)).encode() + b"\n")
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    async def answer(self, line: bytes) -> dict[str, Any]:
        """The reply; under --workers it also says which worker answered, of how many, so
        that the command line can ask the others too."""
        reply = await self._answer(line)
        if self.server.worker is not None:
            reply.update(worker=self.server.worker, workers=self.server.workers)
        return reply

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = self._parse(line)
            result = await HANDLERS[request["command"]](self.server, request)
        except AdminError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug must not take the listener down; say what failed
            log.exception("admin request failed")
            return {"ok": False, "error": f"internal error: {exc.__class__.__name__}"}
        return {"ok": True, "result": result}

    def _parse(self, line: bytes) -> dict[str, Any]:
        if len(line) > MAX_REQUEST or not line.endswith(b"\n"):
            raise AdminError("send one JSON object on one line")
        try:
            request = json.loads(line)
        except ValueError:
            raise AdminError("not JSON") from None
        if not isinstance(request, dict):
            raise AdminError("send one JSON object on one line")
        if self.token is not None:
            given = str(request.get("token", "")).encode()
            if not hmac.compare_digest(given, self.token):
                raise AdminError("bad or missing token")
        if request.get("command") not in HANDLERS:
            raise AdminError(f"unknown command; the commands are: {', '.join(sorted(HANDLERS))}")
        return request
