"""Health probes shared by everyone who asks: /healthz, /readyz and the admin `status`.

The metrics address takes no credentials, and each probe is real work elsewhere (a whole
upstream login, a service-account bind on the LDAP worker threads that logins use, a key
fetch). So a probe under way is awaited by every request that comes meanwhile, and its
answer serves the requests of the next REUSE seconds too: a flood of health requests
costs the upstream and the directories one probe each per REUSE, not one per request. A
load balancer's check every few seconds still gets a fresh answer each time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

REUSE = 1.0  # seconds an answer serves later requests


class SharedProbes:
    def __init__(self, reuse: float = REUSE, clock: Callable[[], float] = time.monotonic) -> None:
        self.reuse = reuse
        self.clock = clock
        self.runs = 0  # probes actually started, for tests
        self._running: dict[str, asyncio.Task[str]] = {}
        self._answers: dict[str, tuple[float, str]] = {}  # name -> (when it finished, answer)

    async def ask(self, name: str, probe: Callable[[], Awaitable[str]]) -> str:
        """The answer of probe `name`: a recent one, the one under way, or a new run. A
        caller that leaves (its HTTP client gave up) does not cancel the run for others."""
        answer = self._answers.get(name)
        if answer is not None and self.clock() - answer[0] < self.reuse:
            return answer[1]
        task = self._running.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._run(name, probe))
            self._running[name] = task
        return await asyncio.shield(task)

    async def _run(self, name: str, probe: Callable[[], Awaitable[str]]) -> str:
        self.runs += 1
        try:
            answer = await probe()
        finally:
            self._running.pop(name, None)
        self._answers[name] = (self.clock(), answer)
        return answer
