"""Live sessions by connection id: the bridge's id (the one in its greeting, which clients
use in KILL) -> the upstream thread id of that session's upstream connection.

Behind a small interface, so that a setup with several bridge instances can keep it in a
shared store later. Two implementations:
- LocalRegistry: one process.
- SharedRegistry: the --workers processes of one bridge, in shared memory made before the
  fork. Each worker writes only its own region; any worker reads any region.

Connection ids are unique across workers: worker i of n hands out i+1, i+1+n, i+1+2n, ...
(32 bits, as in the greeting), so the id names its worker."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Container
from typing import Protocol

MAX_ID = 0xFFFFFFFF
SLOT_SIZE = 8  # u32 bridge id (0: a free slot), u32 upstream thread id


class SessionRegistry(Protocol):
    def add(self, bridge_id: int, upstream_id: int) -> bool:
        """Record a live session; False when there is no room (KILL then cannot find it)."""

    def upstream_id(self, bridge_id: int) -> int | None:
        """The upstream thread id of a live session, or None."""

    def remove(self, bridge_id: int) -> None: ...

    def __contains__(self, bridge_id: object) -> bool:
        """Is this id one of this process's live sessions?"""


class ConnectionIds:
    """This process's connection ids: 32-bit, never 0, never one still in use."""

    def __init__(self, worker: int = 0, workers: int = 1) -> None:
        self.first, self.step = worker + 1, workers
        self._next = self.first

    def take(self, in_use: Container[int]) -> int:
        """The next id not in `in_use` (a container of live ids)."""
        while True:
            candidate = self._next
            self._next += self.step
            if self._next > MAX_ID:
                self._next = self.first
            if candidate not in in_use:
                return candidate


class LocalRegistry:
    def __init__(self) -> None:
        self._sessions: dict[int, int] = {}

    def add(self, bridge_id: int, upstream_id: int) -> bool:
        self._sessions[bridge_id] = upstream_id
        return True

    def upstream_id(self, bridge_id: int) -> int | None:
        return self._sessions.get(bridge_id)

    def remove(self, bridge_id: int) -> None:
        self._sessions.pop(bridge_id, None)

    def __contains__(self, bridge_id: object) -> bool:
        return bridge_id in self._sessions

    def items(self) -> list[tuple[int, int]]:
        return list(self._sessions.items())


class SharedMemory:
    """The anonymous shared mapping all workers inherit: `workers` regions of `capacity`
    slots. Make it in the parent, before forking."""

    def __init__(self, workers: int, capacity: int) -> None:
        self.workers, self.capacity = workers, capacity
        self.map = mmap.mmap(-1, workers * capacity * SLOT_SIZE)

    def for_worker(self, worker: int) -> SharedRegistry:
        return SharedRegistry(self, worker)


class SharedRegistry:
    """One worker's view: writes its own region, reads the region the id names."""

    def __init__(self, memory: SharedMemory, worker: int) -> None:
        self.memory, self.worker = memory, worker
        self._region = memory.capacity * SLOT_SIZE
        self._slots: dict[int, int] = {}  # our bridge id -> slot offset
        self._free = [worker * self._region + i * SLOT_SIZE for i in range(memory.capacity)]
        self._free.reverse()

    def add(self, bridge_id: int, upstream_id: int) -> bool:
        if not self._free:
            return False
        offset = self._free.pop()
        # The thread id first, then the key: a reader never pairs a key with a stale id.
        struct.pack_into("<I", self.memory.map, offset + 4, upstream_id)
        struct.pack_into("<I", self.memory.map, offset, bridge_id)
        self._slots[bridge_id] = offset
        return True

    def remove(self, bridge_id: int) -> None:
        offset = self._slots.pop(bridge_id, None)
        if offset is not None:
            struct.pack_into("<I", self.memory.map, offset, 0)
            self._free.append(offset)

    def upstream_id(self, bridge_id: int) -> int | None:
        if not 0 < bridge_id <= MAX_ID:
            return None
        owner = (bridge_id - 1) % self.memory.workers
        start = owner * self._region
        key = struct.pack("<I", bridge_id)
        found = self.memory.map.find(key, start, start + self._region)
        while found != -1:
            if (found - start) % SLOT_SIZE == 0:
                (upstream,) = struct.unpack_from("<I", self.memory.map, found + 4)
                (key_now,) = struct.unpack_from("<I", self.memory.map, found)
                if key_now == bridge_id:  # still the same session after reading its id
                    return int(upstream)
            found = self.memory.map.find(key, found + 1, start + self._region)
        return None

    def __contains__(self, bridge_id: object) -> bool:
        return bridge_id in self._slots
