"""The audit bookkeeping of one connection: the attempt under way (a login or a
COM_CHANGE_USER), filled in step by step, then written to the audit log and counted in the
metrics once it ends, with its result (ok, denied or error) and reason."""

from __future__ import annotations

import time
from typing import Any

from bridge.audit import Attempt, AuditLog
from bridge.errors import (
    AccessDenied,
    AccessDeniedNoPassword,
    AccountBlocked,
    BridgeError,
    MustChangePassword,
)
from bridge.metrics import Metrics

# Refusals of the person, audited as "denied" (the others are "error").
DENIALS = (AccessDenied, AccessDeniedNoPassword, AccountBlocked, MustChangePassword)


class Attempts:
    """At most one attempt is under way on a connection; starting one replaces none."""

    def __init__(self, audit: AuditLog, metrics: Metrics) -> None:
        self.audit = audit
        self.metrics = metrics
        self.current: Attempt | None = None

    def start(self, attempt: Attempt) -> None:
        self.current = attempt

    def note(self, **fields: Any) -> None:
        """Fill in what the attempt has learnt so far (row, wire method, identity, ...)."""
        if self.current is not None:
            for name, value in fields.items():
                setattr(self.current, name, value)

    def finish(self, failure: BridgeError | str | None) -> None:
        """Write the attempt under way: ok (no failure), denied, or error with the reason."""
        attempt, self.current = self.current, None
        if attempt is None:
            return
        if failure is None:
            attempt.result = "ok"
        elif isinstance(failure, BridgeError):
            denied = isinstance(failure, DENIALS)
            attempt.result, attempt.reason = ("denied" if denied else "error"), failure.log_reason
        else:
            attempt.reason = failure
        self.audit.write(attempt)
        self.metrics.login(
            attempt.result, attempt.wire_method or "none", attempt.backend or "none",
            time.monotonic() - attempt.started,
        )  # fmt: skip
