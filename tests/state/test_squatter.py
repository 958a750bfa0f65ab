"""A process that answers on the state engine's address but is no Redis (a local user who
bound the port while redis-server was down, or a broken proxy): every reply well-formed
RESP, none what a bridge's command gets from Redis. Nothing it says may crash a login, the
start or the heartbeat, or lift a lock: the bridge treats it as an engine that is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.config import ProtectionConfig
from bridge.state.engine import Engine
from bridge.state.registry import RedisRegistry, SlotIds
from bridge.state.throttle import RedisThrottle, ThrottleClosed
from tests.state.test_redis_state import state_config

# What the squatter answers to a script (EVALSHA) or to INCR / GET / SET.
GARBAGE = [b"+hello\r\n", b":7\r\n", b"*0\r\n", b"*1\r\n$3\r\nabc\r\n", b"$-1\r\n",
           b"*3\r\n:1\r\n$2\r\nxx\r\n:3\r\n"]  # fmt: skip


async def serve_garbage(
    reply: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while line := await reader.readline():
            if not line.startswith(b"*"):
                continue
            parts = []
            for _ in range(int(line[1:])):
                size = int((await reader.readline())[1:])
                parts.append((await reader.readexactly(size + 2))[:-2])
            command = parts[0].upper()
            if command in (b"EVALSHA", b"EVAL", b"INCR", b"GET", b"SET", b"HGET"):
                writer.write(reply)
            elif command == b"SCRIPT":
                writer.write(b"$40\r\n" + b"0" * 40 + b"\r\n")
            else:
                writer.write(b"+OK\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


@pytest.fixture(params=GARBAGE)
async def squatter(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    reply: bytes = request.param
    server = await asyncio.start_server(lambda r, w: serve_garbage(reply, r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    server.close()


SETTINGS = {"failed_login_attempts": 3, "lock_time": 60, "lock_by": "account"}
PROTECTION = ProtectionConfig.model_validate({**SETTINGS, "failed_login_threshold": 1})


async def test_the_throttle_falls_back_as_for_an_engine_that_is_down(
    tmp_path: Path, squatter: str
) -> None:
    engine = Engine(state_config(tmp_path, squatter))
    throttle = RedisThrottle(PROTECTION, engine, "known_locks", b"k" * 32)
    for _ in range(3):
        assert (await throttle.check("dave", "10.0.0.9"))[0] is None
        await throttle.failure("dave", "10.0.0.9")  # counted in this process
        engine._retry_at = 0  # no backoff: ask the squatter each time
    lock, _ = await throttle.check("dave", "10.0.0.9")
    assert lock is not None  # the local count locked, whatever the squatter says
    assert await throttle.locked("dave", "10.0.0.9", ()) is not None
    await throttle.success("eve", "10.0.0.8", ())
    assert not engine.up
    closed = RedisThrottle(PROTECTION, Engine(state_config(tmp_path, squatter)), "closed")
    with pytest.raises(ThrottleClosed):
        await closed.check("dave", "10.0.0.9")
    await engine.close()
    await closed.engine.close()


async def test_the_registry_claims_no_slot_and_the_heartbeat_lives(
    tmp_path: Path, squatter: str
) -> None:
    engine = Engine(state_config(tmp_path, squatter))
    registry = RedisRegistry(engine, SlotIds(), b"k" * 32)
    assert await registry.claim() in (False, True)
    engine._retry_at = 0
    await registry.renew()  # no exception: a heartbeat that raised would end for good
    assert await registry.remote_find((5 << 20) | 1) is None
    await engine.close()
