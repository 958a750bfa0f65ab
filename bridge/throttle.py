"""Protection against password guessing, in the spirit of MySQL's connection_control plugin
(after N consecutive failures, each further attempt waits, longer each time, up to a
maximum; a success resets it) and of FAILED_LOGIN_ATTEMPTS / PASSWORD_LOCK_TIME (a
temporary lock, ERROR 3955). Delays are awaited on the event loop: they slow the guesser
and nobody else. Counted per client address, per account, or per both, as configured.

Names are keys the way directories compare them: Unicode-normalised (NFKC) and
case-folded, so `BOB` and `Bob` share bob's count. A name the backend resolved (an LDAP
entry's DN; a PAM stack's rewritten user, known on success only) is counted and checked
too. Keys are bounded (long names are hashed) and so is the number of records, whatever a
client sends. An address is a source as the per-source handshake cap counts it
(bridge/slots.py source_key): an IPv6 client is its /64, an IPv4-mapped one its IPv4 address,
so a host holding a /64 does not get 2^64 fresh budgets. A success forgets the failures of
that user only: per address, the count remembers whose failures it holds.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.config import ProtectionConfig
from bridge.slots import source_key

MAX_TRACKED = 100_000  # failure records kept; the oldest go first
FORGET_AFTER = 3600.0  # seconds without a failure after which a record is dropped
MAX_KEY = 64  # characters of a name kept as it is in a key; a longer one is hashed
MAX_USERS_PER_ADDRESS = 64  # per-user shares of an address's count; beyond, shared by all
OTHERS = "\0others"  # the share no success clears

Key = tuple[str, ...]


def name_key(name: str) -> str:
    """The throttling key of a user name: compared as a directory compares it, bounded."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    if len(folded) <= MAX_KEY:
        return folded
    digest = hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()
    return f"#{digest[:32]}"


@dataclass(slots=True)
class _Record:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0
    by_user: dict[str, int] | None = None  # per address: whose failures these are
    typed_as: set[str] | None = None  # for a resolved name (a DN): the names typed for it

    def add(self, user: str | None, now: float) -> None:
        self.failures, self.last = self.failures + 1, now
        if user is None:
            return
        shares = self.by_user if self.by_user is not None else {}
        self.by_user = shares
        if user not in shares and len(shares) >= MAX_USERS_PER_ADDRESS:
            user = OTHERS
        shares[user] = shares.get(user, 0) + 1

    def clear(self, user: str) -> None:
        """Forget `user`'s share of the count."""
        share = self.by_user.pop(user, 0) if self.by_user else 0
        self.failures = max(0, self.failures - share)


@dataclass
class Throttle:
    config: ProtectionConfig
    _records: dict[Key, _Record] = field(default_factory=dict)

    def _keys(self, how: str, names: Iterable[str], address: str) -> list[Key]:
        address = source_key(address)
        if how == "address":
            return [("a", address)]
        if how == "account":
            return [("u", name) for name in names]
        return [("ua", name, address) for name in names]

    def _get(self, key: Key) -> _Record:
        record = self._records.get(key)
        now = time.monotonic()
        if record is None or (now - record.last > FORGET_AFTER and record.locked_until < now):
            record = self._records[key] = _Record(last=now)
            if len(self._records) > MAX_TRACKED:
                self._forget_oldest()
        return record

    def _forget_oldest(self) -> None:
        for key in sorted(self._records, key=lambda k: self._records[k].last)[: MAX_TRACKED // 10]:
            del self._records[key]

    @staticmethod
    def _names(user: str, also: Iterable[str | None]) -> list[str]:
        return list(dict.fromkeys(name_key(n) for n in (user, *also) if n))

    def delay(self, user: str, address: str) -> float:
        """Seconds this attempt must wait before it is processed."""
        threshold = self.config.failed_login_threshold
        if not threshold:
            return 0.0
        keys = self._keys(self.config.count_by, [name_key(user)], address)
        failures = self._get(keys[0]).failures
        if failures < threshold:
            return 0.0
        grown = self.config.min_delay * (failures - threshold + 1)
        return min(self.config.max_delay, grown)

    def locked(
        self, user: str, address: str, also: Iterable[str | None] = ()
    ) -> tuple[float, int] | None:
        """(seconds remaining, failures) if the account (under any of its names) is locked
        for this client."""
        if not self.config.failed_login_attempts:
            return None
        now = time.monotonic()
        for key in self._keys(self.config.lock_by, self._names(user, also), address):
            record = self._records.get(key)
            if record is not None and record.locked_until > now:
                return record.locked_until - now, record.failures
        return None

    def failure(self, user: str, address: str, also: Iterable[str | None] = ()) -> None:
        """A failed attempt for `user`, and for the names the backend resolved (`also`)."""
        if not self.enabled:
            return
        now, names = time.monotonic(), self._names(user, also)
        for how in {self.config.count_by, self.config.lock_by}:
            for key in self._keys(how, names, address):
                record = self._get(key)
                record.add(names[0] if how == "address" else None, now)
                if how != "address" and key[1] != names[0]:  # a resolved name: note by whom
                    record.typed_as = record.typed_as or set()
                    if len(record.typed_as) < MAX_USERS_PER_ADDRESS:
                        record.typed_as.add(names[0])
                attempts = self.config.failed_login_attempts
                if how == self.config.lock_by and attempts and record.failures % attempts == 0:
                    record.locked_until = now + self.config.lock_time

    @property
    def enabled(self) -> bool:
        return bool(self.config.failed_login_threshold or self.config.failed_login_attempts)

    def unlock(self, user: str, address: str | None = None) -> int:
        """Forget the user's failures (from `address` only, if given); how many records.
        `user` is matched as a key: every spelling of the name is unlocked."""
        name = name_key(user)
        keys = [k for k, r in self._records.items() if k[0] in ("u", "ua")
                and (k[1] == name or (r.typed_as is not None and name in r.typed_as))]  # fmt: skip
        source = None if address is None else source_key(address)
        keys = [k for k in keys if source is None or k[0] == "u" or k[2] == source]
        for key in keys:
            del self._records[key]
        return len(keys)

    def success(self, user: str, address: str, also: Iterable[str | None] = ()) -> None:
        """Forget this user's failures: under its names, and its share of the address's."""
        if not self._records:  # nothing has failed (or protection is off): nothing to forget
            return
        names = self._names(user, also)
        for how in {self.config.count_by, self.config.lock_by}:
            for key in self._keys(how, names, address):
                if how != "address":
                    self._records.pop(key, None)
                elif (record := self._records.get(key)) is not None:
                    record.clear(names[0])
                    if not record.failures:
                        del self._records[key]

    def __len__(self) -> int:
        return len(self._records)
