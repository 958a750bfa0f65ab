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


def test_the_owner_travels_with_the_entry_and_only_a_known_owner_matches() -> None:
    registry = LocalRegistry()
    alice, bob = registry.owner("alice", "alice"), registry.owner("bob", "bob")
    assert len(alice) == 16 and alice != bob
    assert registry.owner("alice", "alice") == alice  # the same key: the same digest
    assert registry.owner("alice", "alice@EXAMPLE.COM") != alice  # another proven identity
    assert LocalRegistry().owner("alice", "alice") != alice  # another key (no name in it)
    registry.add(1, 100, alice)
    entry = registry.find(1)
    assert entry is not None and entry.thread == 100
    assert entry.same_owner(alice) and not entry.same_owner(bob)
    assert not entry.same_owner(b"")
    registry.add(2, 200)  # owner not known: nobody's
    unknown = registry.find(2)
    assert unknown is not None and not unknown.same_owner(b"") and not unknown.same_owner(alice)


def test_shared_registry_carries_owners_across_workers_and_changes_of_owner() -> None:
    memory = SharedMemory(workers=2, capacity=2)
    first, second = memory.for_worker(0), memory.for_worker(1)
    alice, bob = first.owner("alice", "alice"), first.owner("bob", "bob")
    assert second.owner("alice", "alice") == alice  # the key was made before the fork
    pid = os.fork()
    if pid == 0:
        second.add(2, 602, bob)
        os._exit(0)
    os.waitpid(pid, 0)
    seen = first.find(2)
    assert seen is not None and seen.thread == 602 and seen.same_owner(bob)
    assert first.add(1, 501, alice) and first.add(3, 503)
    assert first.add(1, 501, bob)  # COM_CHANGE_USER: the same session, a new owner, no new room
    again = second.find(1)
    assert again is not None and again.thread == 501 and again.same_owner(bob)
    unknown = second.find(3)
    assert unknown is not None and unknown.owner == b"" and not unknown.same_owner(bytes(16))
