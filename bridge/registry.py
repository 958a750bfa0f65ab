"""Live sessions by connection id: the bridge's id (the one in its greeting, which clients
use in KILL) -> the upstream thread id of that session's upstream connection, and who owns
the session (a keyed digest of its external user: KILL of another user's session needs
the privilege mysqld asks for, bridge/upstream/kill.py).

Behind a small interface, so that a setup with several bridge instances can keep it in a
shared store later. Two implementations:
- LocalRegistry: one process.
- SharedRegistry: the --workers processes of one bridge, in shared memory made before the
  fork. Each worker writes only its own region; any worker reads any region.

Connection ids are unique across workers: worker i of n hands out i+1, i+1+n, i+1+2n, ...
(32 bits, as in the greeting), so the id names its worker."""

from __future__ import annotations

import hashlib
import hmac
import mmap
import os
import struct
from collections.abc import Container
from dataclasses import dataclass
from typing import Protocol

MAX_ID = 0xFFFFFFFF
OWNER_SIZE = 16  # a truncated HMAC-SHA256: no two users' digests meet by chance
# u32 bridge id (0: a free slot), u32 upstream thread id, the owner's digest
SLOT_SIZE = 8 + OWNER_SIZE
_NO_OWNER = bytes(OWNER_SIZE)


@dataclass(frozen=True, slots=True)
class Entry:
    """A live session as KILL needs it."""

    thread: int  # the upstream thread id
    owner: bytes = b""  # owner_digest() of its external user; empty: not known

    def same_owner(self, owner: bytes) -> bool:
        """Is `owner` this session's owner? Never when either is not known."""
        return bool(owner) and bool(self.owner) and hmac.compare_digest(self.owner, owner)


def owner_digest(key: bytes, login: str, identity: str) -> bytes:
    """Who owns a session, for KILL: the user name the client logged in with (mysqld's
    USER(), which its KILL compares) and the name the backend proved, keyed so that the
    registry (shared memory, the state engine) names no user."""
    text = f"{login}\0{identity}".encode("utf-8", "surrogatepass")
    return hmac.new(key, text, hashlib.sha256).digest()[:OWNER_SIZE]


class SessionRegistry(Protocol):
    def add(self, bridge_id: int, upstream_id: int, owner: bytes = b"") -> bool:
        """Record a live session (again, when its owner changed); False when there is no
        room (KILL then cannot find it)."""

    def find(self, bridge_id: int) -> Entry | None:
        """A live session of this process (or, shared memory, of a sibling worker)."""

    def owner(self, login: str, identity: str) -> bytes:
        """owner_digest() with this registry's key (the same in every worker/instance)."""

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
    def __init__(self, key: bytes | None = None) -> None:
        self._sessions: dict[int, Entry] = {}
        self._key = key if key is not None else os.urandom(32)

    def add(self, bridge_id: int, upstream_id: int, owner: bytes = b"") -> bool:
        self._sessions[bridge_id] = Entry(upstream_id, owner)
        return True

    def find(self, bridge_id: int) -> Entry | None:
        return self._sessions.get(bridge_id)

    def upstream_id(self, bridge_id: int) -> int | None:
        entry = self._sessions.get(bridge_id)
        return entry.thread if entry is not None else None

    def owner(self, login: str, identity: str) -> bytes:
        return owner_digest(self._key, login, identity)

    def remove(self, bridge_id: int) -> None:
        self._sessions.pop(bridge_id, None)

    def __contains__(self, bridge_id: object) -> bool:
        return bridge_id in self._sessions

    def items(self) -> list[tuple[int, Entry]]:
        return list(self._sessions.items())


class SharedMemory:
    """The anonymous shared mapping all workers inherit: `workers` regions of `capacity`
    slots. Make it in the parent, before forking."""

    def __init__(self, workers: int, capacity: int) -> None:
        self.workers, self.capacity = workers, capacity
        self.map = mmap.mmap(-1, workers * capacity * SLOT_SIZE)
        self.key = os.urandom(32)  # for owner digests: every worker inherits it

    def for_worker(self, worker: int) -> SharedRegistry:
        return SharedRegistry(self, worker)

    def clear(self, worker: int) -> None:
        """Wipe a dead worker's region (the parent, before starting it again): its sessions
        are gone, and a KILL of one of their ids must not reach a thread id the upstream
        has given to someone else since."""
        size = self.capacity * SLOT_SIZE
        self.map[worker * size : (worker + 1) * size] = bytes(size)


class SharedRegistry:
    """One worker's view: writes its own region, reads the region the id names."""

    def __init__(self, memory: SharedMemory, worker: int) -> None:
        self.memory, self.worker = memory, worker
        self._region = memory.capacity * SLOT_SIZE
        self._slots: dict[int, int] = {}  # our bridge id -> slot offset
        self._free = [worker * self._region + i * SLOT_SIZE for i in range(memory.capacity)]
        self._free.reverse()

    def add(self, bridge_id: int, upstream_id: int, owner: bytes = b"") -> bool:
        self.remove(bridge_id)  # a new owner (COM_CHANGE_USER): a fresh slot, never torn
        if not self._free:
            return False
        offset = self._free.pop()
        # The thread id and owner first, then the key: a reader never pairs a key with a
        # stale entry.
        stored = owner if len(owner) == OWNER_SIZE else _NO_OWNER
        struct.pack_into(f"<I{OWNER_SIZE}s", self.memory.map, offset + 4, upstream_id, stored)
        struct.pack_into("<I", self.memory.map, offset, bridge_id)
        self._slots[bridge_id] = offset
        return True

    def owner(self, login: str, identity: str) -> bytes:
        return owner_digest(self.memory.key, login, identity)

    def remove(self, bridge_id: int) -> None:
        offset = self._slots.pop(bridge_id, None)
        if offset is not None:
            struct.pack_into("<I", self.memory.map, offset, 0)
            self._free.append(offset)

    def find(self, bridge_id: int) -> Entry | None:
        if not 0 < bridge_id <= MAX_ID:
            return None
        worker = (bridge_id - 1) % self.memory.workers
        start = worker * self._region
        key = struct.pack("<I", bridge_id)
        found = self.memory.map.find(key, start, start + self._region)
        while found != -1:
            if (found - start) % SLOT_SIZE == 0:
                upstream, owner = struct.unpack_from(f"<I{OWNER_SIZE}s", self.memory.map, found + 4)
                (key_now,) = struct.unpack_from("<I", self.memory.map, found)
                if key_now == bridge_id:  # still the same session after reading its entry
                    return Entry(int(upstream), b"" if owner == _NO_OWNER else owner)
            found = self.memory.map.find(key, found + 1, start + self._region)
        return None

    def upstream_id(self, bridge_id: int) -> int | None:
        entry = self.find(bridge_id)
        return entry.thread if entry is not None else None

    def __contains__(self, bridge_id: object) -> bool:
        return bridge_id in self._slots
