"""The connections of the metrics and admin listeners that have not sent their request yet.

Neither listener takes many clients (a scraper, a load balancer's checks, an operator), and
the metrics address takes no credentials. Connections that send nothing would otherwise
each hold a file descriptor for the whole read timeout, and enough of them (any local user
can open thousands) leave none for the MySQL listeners. So at most `limit` wait at once; a
new connection over that closes the one that has waited longest. A checker sends its
request as soon as it is connected, so it is not the one that waited longest; and a
connection that has sent its request is no longer waiting (it is answered within the
probe's time)."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("bridge.waiting")
LIMIT = 64


class WaitingClients:
    def __init__(self, what: str, limit: int = LIMIT) -> None:
        self.what = what
        self.limit = limit
        self.closed = 0  # connections closed for newer ones, since start
        self._waiting: dict[asyncio.BaseTransport, None] = {}  # oldest first

    def __len__(self) -> int:
        return len(self._waiting)

    def arrived(self, transport: asyncio.BaseTransport) -> None:
        while len(self._waiting) >= self.limit:
            oldest = next(iter(self._waiting))
            del self._waiting[oldest]
            self._close(oldest)
        self._waiting[transport] = None

    def done(self, transport: asyncio.BaseTransport) -> None:
        """Its request is in (or it is gone): it no longer counts."""
        self._waiting.pop(transport, None)

    def _close(self, transport: asyncio.BaseTransport) -> None:
        self.closed += 1
        if self.closed == 1 or self.closed % 1000 == 0:
            log.warning("%s: %d connections waiting without a request, the most kept: the "
                        "oldest closed (%d so far)", self.what, self.limit,
                        self.closed)  # fmt: skip
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()
        else:
            transport.close()
