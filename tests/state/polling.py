"""Waiting in the state tests for what the code under test does in the background (a batch
of registrations, a deletion): it comes a few milliseconds later on a quiet machine and
much later on a busy one, so tests poll for it instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bridge.state.registry import RedisRegistry


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    """Poll `check` until it is true; AssertionError naming `what` after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.01)


async def flushed(registry: RedisRegistry, timeout: float = 10) -> None:
    """Every registration and removal so far is written: no batch pending or in flight."""

    async def idle() -> bool:
        return registry._flusher is None or registry._flusher.done()

    await eventually(idle, "the registry's batches", timeout)
