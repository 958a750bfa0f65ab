"""What a session needs from the service around it, and nothing more: the runtime (config,
accounts, backends, credentials), the upstream's profile, the throttle, the metrics, the
audit log, the session registry (for KILL), the upstream pool, and the connection slots.

BridgeServer provides it; a test can provide its own. A session never sees the server."""

from __future__ import annotations

from typing import Protocol

from bridge.audit import AuditLog
from bridge.metrics import Metrics
from bridge.protocol.packets import HandshakeV10
from bridge.registry import Entry, SessionRegistry
from bridge.runtime import Runtime
from bridge.state.throttle import ThrottleState
from bridge.upstream.pool import UpstreamPool


class SessionContext(Protocol):
    @property
    def runtime(self) -> Runtime:
        """The configuration now; a session keeps the one it started with."""
        ...

    @property
    def profile(self) -> HandshakeV10:
        """The upstream's greeting: version, capabilities, charset."""
        ...

    @property
    def throttle(self) -> ThrottleState:
        """Failed-login counts and locks: this process's, or shared (bridge/state/)."""
        ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def registry(self) -> SessionRegistry: ...

    @property
    def pool(self) -> UpstreamPool: ...

    async def remote_session(self, bridge_id: int) -> Entry | None:
        """KILL of a session another worker or instance holds (shared state): its entry
        (upstream thread id, owner), or None."""
        ...

    def client_capabilities(self, tls: bool) -> int:
        """The capabilities the greeting offers."""
        ...

    def learn_profile(self, greeting: HandshakeV10) -> None:
        """An upstream greeting seen on a login: the profile follows the upstream."""
        ...

    def promote_slot(self, source: str | None) -> None:
        """A login succeeded: its handshake slot becomes a session slot, or ERROR 1040."""
        ...

    def release_slot(self, source: str | None, authenticated: bool) -> None:
        """The connection ended: its slot (a handshake's or a session's) is free again."""
        ...
