import os

from bridge.registry import MAX_ID, ConnectionIds, LocalRegistry, SharedMemory


def test_local_registry() -> None:
    registry = LocalRegistry()
    assert registry.add(1, 100)
    assert registry.upstream_id(1) == 100 and 1 in registry
    registry.remove(1)
    assert registry.upstream_id(1) is None and 1 not in registry


def test_connection_ids_are_unique_across_workers_and_skip_live_ones() -> None:
    taken = [ConnectionIds(w, 3) for w in range(3)]
    ids = [ids.take(()) for ids in taken for _ in range(4)]
    assert len(set(ids)) == 12 and 0 not in ids
    assert all((i - 1) % 3 == w for w, ids_of in enumerate(taken) for i in ids[w * 4 : w * 4 + 4])
    fresh = ConnectionIds()
    assert fresh.take({1, 2}) == 3
    fresh._next = MAX_ID  # the 32-bit wrap starts again at the first id, skipping live ones
    assert fresh.take(()) == MAX_ID and fresh.take({1}) == 2


def test_shared_registry_is_seen_by_every_worker_and_across_fork() -> None:
    memory = SharedMemory(workers=2, capacity=2)
    first, second = memory.for_worker(0), memory.for_worker(1)
    assert first.add(1, 501) and first.add(3, 503)
    assert not first.add(5, 505)  # full: no room, said so
    pid = os.fork()
    if pid == 0:  # worker 1 registers a session in its own region
        second.add(2, 602)
        os._exit(0)
    os.waitpid(pid, 0)
    assert second.upstream_id(1) == 501 and first.upstream_id(2) == 602
    assert first.upstream_id(4) is None and first.upstream_id(0) is None
    first.remove(1)
    assert second.upstream_id(1) is None and second.upstream_id(3) == 503
    assert first.add(5, 505) and second.upstream_id(5) == 505  # the freed slot is reused


def test_shared_registry_ignores_misaligned_matches() -> None:
    memory = SharedMemory(workers=1, capacity=4)
    registry = memory.for_worker(0)
    registry.add(7, 0x07000000)  # the thread id's bytes hold 7 at an odd offset
    registry.add(9, 0x0700)
    assert registry.upstream_id(7) == 0x07000000 and registry.upstream_id(0x0700) is None
