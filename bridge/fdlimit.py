"""Open files (RLIMIT_NOFILE) against server.max_connections, as mysqld checks them at start.

Each logged-in session holds two descriptors (the client's and the upstream's), each
handshake one, each idle pooled upstream connection one, and the listeners, logs, the
admin and metrics sockets and the backends' connections a few more. `serve` raises its soft
limit to what that adds up to (never above the hard limit, which only root may raise);
when the hard limit is lower, it and `check` say so and how many sessions fit, instead of
accept() failing later with 'Too many open files'."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from pathlib import Path

from bridge.config import BridgeConfig

log = logging.getLogger(__name__)
RESERVE = 64  # listeners, log and audit files, admin/metrics, LDAP/KDC/Redis, the pipe


@dataclass(frozen=True)
class FileBudget:
    sessions: int  # server.max_connections
    handshakes: int  # server.max_unauthenticated
    pooled: int  # upstream.pool.max_idle (0 when the pool is off)

    @classmethod
    def of(cls, config: BridgeConfig) -> FileBudget:
        pool = config.upstream.pool
        return cls(config.server.max_connections, config.server.max_unauthenticated,
                   pool.max_idle if pool.enabled else 0)  # fmt: skip

    @property
    def needed(self) -> int:
        return 2 * self.sessions + self.handshakes + self.pooled + RESERVE

    def sessions_within(self, limit: int) -> int:
        """How many sessions fit in `limit` descriptors beside everything else."""
        return max(0, (limit - self.handshakes - self.pooled - RESERVE) // 2)

    def shortfall(self, limit: int) -> str | None:
        """Why `limit` open files are too few for this configuration, or None."""
        if limit == resource.RLIM_INFINITY or limit >= self.needed:
            return None
        return (
            f"the open-files limit is {limit} but server.max_connections {self.sessions} "
            f"needs about {self.needed} (2 per session: client and upstream; 1 per handshake, "
            f"server.max_unauthenticated {self.handshakes}; {self.pooled} for "
            f"upstream.pool.max_idle; {RESERVE} for listeners, logs and backends): about "
            f"{self.sessions_within(limit)} sessions fit before new connections fail with "
            "'Too many open files'; raise the hard limit (LimitNOFILE= in the service unit, "
            "ulimit -Hn) or lower server.max_connections"
        )


def raise_limit(budget: FileBudget) -> str | None:
    """Raise this process's soft limit toward the hard one, as far as `budget` needs; the
    warning to log when even the hard limit is too low (None when it is enough)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = budget.needed if hard == resource.RLIM_INFINITY else min(budget.needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the open-files limit from %d to %d: %s", soft, wanted, exc)
        else:
            log.info("open-files limit raised from %d to %d (hard limit %s)", soft, wanted,
                     "unlimited" if hard == resource.RLIM_INFINITY else hard)  # fmt: skip
            soft = wanted
    return budget.shortfall(soft)


def ensure_open_files(config_path: Path, config: BridgeConfig) -> None:
    """Raise the limit for `config` (at start, before any fork, and again on each reload:
    the new server.max_connections may need more); warn, as mysqld does, when the hard
    limit does not allow it. Nothing else changes: the configuration applies either way."""
    from bridge.preflight import where

    problem = raise_limit(FileBudget.of(config))
    if problem is not None:
        place = where(config_path, ("server", "max_connections"))
        logging.getLogger("bridge").warning("%s: server.max_connections: %s", place, problem)


def check_limit(budget: FileBudget) -> str | None:
    """For `check`: what serve, started like this process, would warn about (it raises
    the soft limit up to the hard one, so only the hard limit counts)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    problem = budget.shortfall(hard)
    if problem is None:
        return None
    return f"{problem} (the limit `check` runs under; the service unit sets its own, LimitNOFILE=)"
