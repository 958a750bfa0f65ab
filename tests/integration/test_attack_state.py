"""A co-located process that can reach the bridges' Redis without a password (no ACL user,
no TLS: `redis://127.0.0.1:6379`): what it can and cannot make the bridges do. It can read
and write every key; it does not have the state key file (0600, the service's user)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import redis

from sandbox.mariadb import MariaDB
from sandbox.redis import RedisServer
from tests.integration.harness import closing, connect, error_of, scalar
from tests.integration.test_kill_owner import SHARED, shared_account, two_people_bridge
from tests.integration.test_state_redis import (
    key_file,
    same_accounts,
    state_section,
    wait_registered,
)
from tests.state.test_squatter import serve_garbage

pytestmark = pytest.mark.integration
__all__ = ["shared_account"]  # the fixture, used by name
PREFIX = "mysql-auth-bridge:"
SLOT_BITS = 20
MAX_BACKOFF_FIRST = 0.3  # bridge/state/engine.py's FIRST_BACKOFF, and a little


def entry(engine: redis.Redis, slot: int, bridge_id: int) -> bytes:
    """A session's entry as the engine holds it: what any reader sees."""
    found = engine.hget(f"{PREFIX}sessions:{slot}", str(bridge_id))
    assert isinstance(found, bytes)
    return found


def test_a_forged_kill_registry_entry_does_not_kill_another_users_session(
    make_bridge: Any, tmp_path: Path, redis_server: RedisServer, mariadb: MariaDB,
    shared_account: Callable[[str], None],
) -> None:  # fmt: skip
    """alice and bob are both proxied to `developer`; alice may not kill bob's session
    (1095). Through Redis she plants an entry that points a connection id of her choice at
    bob's upstream thread, with her own owner digest (copied from her own entry): the
    bridge must not take it for one of its own."""
    state = state_section(tmp_path, redis_server)
    a, b = (two_people_bridge(make_bridge, state=state) for _ in range(2))
    same_accounts([a, b])
    engine = redis.Redis(port=redis_server.port)
    with (closing(connect("pymysql", a, "bob", "bob-pw", "tls")) as bob,
          closing(connect("pymysql", b, "alice", "alice-pw", "tls")) as alice):  # fmt: skip
        assert scalar(alice, "SELECT CURRENT_USER()") == f"{SHARED}@%"
        wait_registered(redis_server, bob.thread_id(), alice.thread_id())
        bob_slot, alice_slot = bob.thread_id() >> SLOT_BITS, alice.thread_id() >> SLOT_BITS
        bobs = entry(engine, bob_slot, bob.thread_id())
        alices = entry(engine, alice_slot, alice.thread_id())
        bob_thread = bobs.split(b":")[0]
        alice_owner = alices.split(b":")[1]
        forged = (bob_slot << SLOT_BITS) | 0xFFFFE  # an id bob's bridge never gave out
        engine.hset(f"{PREFIX}sessions:{bob_slot}", str(forged), bob_thread + b":" + alice_owner)
        with pytest.raises(pymysql.err.MySQLError) as caught:
            alice.cursor().execute(f"KILL {forged}")
        assert error_of(caught.value) == (1094, f"Unknown thread id: {forged}")
        assert scalar(bob, "SELECT 'still here'") == "still here"
        assert scalar(alice, "SELECT 2") == 2
        # and alice's own entry, moved to another id, is no entry either
        engine.hset(f"{PREFIX}sessions:{bob_slot}", str(forged), alices)
        with pytest.raises(pymysql.err.MySQLError) as caught:
            alice.cursor().execute(f"KILL QUERY {forged}")
        assert error_of(caught.value)[0] == 1094
    assert "not written by a bridge" in b.log


@pytest.fixture
def squatter() -> Iterator[str]:
    """A process on the engine's address that is no Redis: a script's reply is '+hello'."""
    loop = asyncio.new_event_loop()
    started: list[asyncio.Server] = []

    async def start() -> None:
        started.append(await asyncio.start_server(
            lambda r, w: serve_garbage(b"+hello\r\n", r, w), "127.0.0.1", 0))  # fmt: skip

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    yield f"redis://127.0.0.1:{started[0].sockets[0].getsockname()[1]}/0"

    async def stop() -> None:
        started[0].close()
        serving = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_an_engine_that_answers_garbage_is_an_engine_that_is_down(
    make_bridge: Any, tmp_path: Path, squatter: str
) -> None:
    """Logins go on as when Redis is down (throttling in this process), with the clear
    errors a login gets: a right password logs in, a wrong one gets 1045, never a closed
    connection."""
    state = {"backend": "redis", "url": squatter, "command_timeout": 0.3,
             "connect_timeout": 0.3, "fast_auth_key_file": str(key_file(tmp_path))}  # fmt: skip
    bridge = make_bridge(state=state, protection={"failed_login_attempts": 3, "lock_time": 60})
    for _ in range(2):
        with pytest.raises(pymysql.err.OperationalError) as caught:
            connect("pymysql", bridge, "nat", "wrong", "tls")
        assert error_of(caught.value)[0] == 1045
        time.sleep(MAX_BACKOFF_FIRST)  # past the backoff: the squatter is asked again
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")) as conn:
        assert scalar(conn, "SELECT 1") == 1
    assert "internal error" not in bridge.log
    assert f"state engine {squatter} unavailable" in bridge.log
