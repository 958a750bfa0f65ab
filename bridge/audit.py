"""The audit record: one JSON line per login or COM_CHANGE_USER attempt. Never a secret:
names, accounts, methods, results and reasons only."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("bridge.audit")


@dataclass
class Attempt:
    """Filled in step by step as the attempt goes; written once it ends."""

    event: str  # "login" or "change_user"
    connection_id: int
    client: str  # the client's IP address, or 'localhost' for the Unix socket
    transport: str  # tcp, tls or socket
    user: str  # the user name the client asked for
    client_name: str | None = None  # the client's host name, when it has one ('localhost')
    row: str | None = None  # the account row that matched ('decoy' for an unknown user)
    wire_method: str | None = None
    backend: str | None = None
    identity: str | None = None  # who the backend says it is
    groups: tuple[str, ...] = ()
    proxied_account: str | None = None  # the account the session became
    result: str = "error"  # ok, denied or error
    reason: str = ""
    started: float = field(default_factory=time.monotonic)

    def record(self) -> dict[str, Any]:
        data = asdict(self)
        started = data.pop("started")
        data["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        data["groups"] = list(self.groups)
        return {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **data}


class AuditLog:
    """Appends records to a file (reopened on reload, for log rotation), or sends them to
    the 'bridge.audit' logger when the target is 'log'."""

    def __init__(self, target: str | None) -> None:
        self._file: IO[str] | None = None
        self.target: str | None = None
        self.retarget(target)

    def retarget(self, target: str | None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.target = target
        if target not in (None, "log"):
            path = Path(target)
            self._file = path.open("a", encoding="utf-8", buffering=1)

    def write(self, attempt: Attempt) -> None:
        if self.target is None:
            return
        line = json.dumps(attempt.record(), ensure_ascii=False, separators=(",", ":"))
        if self._file is not None:
            self._file.write(line + "\n")
        else:
            log.info("%s", line)
