"""bridge/probes.py and bridge/waiting.py: shared health probes, bounded waiting clients."""

from __future__ import annotations

import asyncio

import pytest

from bridge.probes import SharedProbes
from bridge.waiting import WaitingClients


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_callers_at_once_share_one_run() -> None:
    probes = SharedProbes(clock=Clock())
    release = asyncio.Event()

    async def probe() -> str:
        await release.wait()
        return "ok"

    callers = [asyncio.create_task(probes.ask("upstream", probe)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*callers) == ["ok"] * 50
    assert probes.runs == 1


async def test_an_answer_serves_for_the_reuse_window_then_a_new_run() -> None:
    clock = Clock()
    probes = SharedProbes(reuse=1.0, clock=clock)
    answers = iter(["ok", "unavailable: down"])

    async def probe() -> str:
        return next(answers)

    assert await probes.ask("upstream", probe) == "ok"
    clock.now += 0.9
    assert await probes.ask("upstream", probe) == "ok"
    clock.now += 0.2
    assert await probes.ask("upstream", probe) == "unavailable: down"
    assert probes.runs == 2


async def test_probes_of_other_names_are_apart() -> None:
    probes = SharedProbes(clock=Clock())

    async def one() -> str:
        return "one"

    async def two() -> str:
        return "two"

    assert (await probes.ask("a", one), await probes.ask("b", two)) == ("one", "two")


async def test_a_caller_that_leaves_does_not_cancel_the_run_for_others() -> None:
    probes = SharedProbes(clock=Clock())
    release = asyncio.Event()

    async def probe() -> str:
        await release.wait()
        return "ok"

    leaving = asyncio.create_task(probes.ask("upstream", probe))
    staying = asyncio.create_task(probes.ask("upstream", probe))
    await asyncio.sleep(0)
    leaving.cancel()
    release.set()
    assert await staying == "ok"
    with pytest.raises(asyncio.CancelledError):
        await leaving


class Transport(asyncio.WriteTransport):
    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


def test_over_the_limit_the_longest_waiting_is_closed() -> None:
    waiting = WaitingClients("metrics", limit=3)
    first, second, third, fourth = (Transport() for _ in range(4))
    for transport in (first, second, third):
        waiting.arrived(transport)
    waiting.done(second)  # its request came in
    waiting.arrived(fourth)
    assert not first.aborted
    fifth = Transport()
    waiting.arrived(fifth)
    assert first.aborted and not second.aborted and not third.aborted
    assert len(waiting) == 3 and waiting.closed == 1
