"""The audit record: one JSON line per login or COM_CHANGE_USER attempt. Never a secret:
names, accounts, methods, results and reasons only."""

from __future__ import annotations

import errno
import io
import logging
import os
import queue
import stat
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from bridge.batching import Batcher
from bridge.logfmt import json_line, process_fields

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

    def record(self, ended: float, ended_monotonic: float) -> dict[str, Any]:
        """The record of an attempt that ended at `ended` (time.time()) and at
        `ended_monotonic` (time.monotonic()); "worker" after "time" in a worker of
        `serve --workers N` (bridge/logfmt.py: process_fields)."""
        # A shallow copy: every field is a str, an int, None or a tuple of str (asdict's
        # deep copy cost a few percent of the login rate).
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["duration_ms"] = round((ended_monotonic - self.started) * 1000, 1)
        data["groups"] = list(self.groups)
        stamp = datetime.fromtimestamp(ended, UTC).isoformat(timespec="milliseconds")
        return {"time": stamp, **process_fields(), **data}


_RECORD_FIELDS = tuple(f.name for f in fields(Attempt) if f.name != "started")


class _Json:
    """An ended attempt that becomes its JSON line only when written (off the event loop):
    the event loop only notes when it ended. The attempt is not changed after that."""

    __slots__ = ("attempt", "ended", "ended_monotonic")

    def __init__(self, attempt: Attempt) -> None:
        self.attempt = attempt
        self.ended = time.time()
        self.ended_monotonic = time.monotonic()

    def __str__(self) -> str:
        data = self.attempt.record(self.ended, self.ended_monotonic)
        return json_line(data)


# A new audit file: the owner writes, the group reads (a log shipper in the service's
# group), others nothing: records name users and client addresses. The umask can only take
# bits away (the systemd unit's UMask=0077 makes it 0600). An existing file keeps its mode;
# one that others may read or write is warned of: by serve's preflight at start and by
# `check` (bridge/preflight.py), and here when a reload reopens it.
FILE_MODE = 0o640


def _open_audit_file(path: str) -> io.FileIO:
    """Appended to, unbuffered (a short write says how far it got), created FILE_MODE."""
    return io.FileIO(path, "a", opener=lambda name, flags: os.open(name, flags, FILE_MODE))


def mode_warning(path: str, mode: int) -> str | None:
    """What to say of an audit file with this mode: others may read or write it (a device
    or a pipe is the admin's choice)."""
    if not stat.S_ISREG(mode) or not mode & 0o007:
        return None
    return (
        f"the audit log {path} has mode {stat.S_IMODE(mode):04o}: every user of this host may "
        f"read it (it names users and client addresses): chmod o-rwx {path} (the bridge "
        f"creates it {FILE_MODE:04o})"
    )


_STOP = object()
MAX_PENDING = 100_000  # records held in memory while the file cannot be written
RETRY_SECONDS = 1.0


class AuditLog:
    """Appends records to a file (reopened on reload, for log rotation), or sends them to
    the 'bridge.audit' logger when the target is 'log'.

    The event loop only queues the record; a writer thread turns records into JSON lines and
    writes them in batches (bridge/batching.py: at most one write every 10 ms, or every
    100 ms when busy, so a record reaches the file within about that under any load).
    `close()` (on drain) writes everything queued. If a write fails (a full disk), the
    records stay in memory, up to MAX_PENDING, and the write is retried every second; past
    that the oldest are dropped, counted and logged."""

    def __init__(self, target: str | None) -> None:
        self.target: str | None = None
        self.dropped = 0
        self._failing = False
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()
        self.retarget(target, warn=False)  # serve's preflight has warned (bridge/preflight.py)

    def retarget(self, target: str | None, warn: bool = True) -> None:
        """A new target (or the same file again, reopened); errors opening it raise here.
        `warn`: log a warning when others may read the file (mode_warning)."""
        new: io.FileIO | None = None
        if target not in (None, "log"):
            new = _open_audit_file(str(target))
            warning = mode_warning(str(target), os.fstat(new.fileno()).st_mode)
            if warn and warning is not None:
                log.warning("%s", warning)
        self.target = target
        self._queue.put(("file", new))

    def write(self, attempt: Attempt) -> None:
        if self.target is None:
            return
        record = _Json(attempt)
        if self.target == "log":
            log.info("%s", record)  # formatted by the log's own writer thread
        else:
            self._queue.put(record)

    def close(self) -> None:
        """Write what is queued and stop the writer (on drain: no record is lost)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        file: io.FileIO | None = None
        pending: list[bytes] = []
        stopping = False
        batches = Batcher(self._queue)
        while not stopping or pending:
            for item in batches.take(RETRY_SECONDS if pending else None):
                if item is _STOP:
                    stopping = True
                elif isinstance(item, tuple):  # a new file: what is pending goes to the old
                    pending = self._flush(file, pending)
                    if file is not None:
                        file.close()
                    file = item[1]
                else:
                    pending.append(f"{item}\n".encode())
            pending = self._flush(file, pending)
            if stopping and pending:  # still failing at exit: say how much is lost
                log.error("audit log: %d record(s) could not be written", _lines(pending))
                pending = []
        if file is not None:
            file.close()

    def _flush(self, file: io.FileIO | None, pending: list[bytes]) -> list[bytes]:
        """Write `pending`; what could not be written is returned, bounded by MAX_PENDING."""
        if file is None or not pending:
            return []
        data = b"".join(pending)
        try:
            while data:
                written = file.write(data)
                if not written:
                    raise OSError(errno.EIO, "the file took no bytes")
                data = data[written:]
        except OSError as exc:
            return self._failed(data, exc)
        if self._failing:
            log.warning("audit log: writing again")
            self._failing = False
        return []

    def _failed(self, data: bytes, exc: OSError) -> list[bytes]:
        if not self._failing:
            log.error("audit log: cannot write, keeping records in memory and retrying: %s", exc)
            self._failing = True
        lines = data.count(b"\n")
        if lines > MAX_PENDING:
            cut = 0
            for _ in range(lines - MAX_PENDING):
                cut = data.index(b"\n", cut) + 1
            self.dropped += lines - MAX_PENDING
            log.error("audit log: %d record(s) dropped so far, the file cannot be written",
                      self.dropped)  # fmt: skip
            data = data[cut:]
        return [data]


def _lines(pending: list[bytes]) -> int:
    return sum(chunk.count(b"\n") for chunk in pending)
