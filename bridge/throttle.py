"""Protection against password guessing, in the spirit of MySQL's connection_control plugin
(after N consecutive failures, each further attempt waits, longer each time, up to a
maximum; a success resets it) and of FAILED_LOGIN_ATTEMPTS / PASSWORD_LOCK_TIME (a
temporary lock, ERROR 3955). Delays are awaited on the event loop: they slow the guesser
and nobody else. Counted per client address, per account, or per both, as configured."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bridge.config import ProtectionConfig

MAX_TRACKED = 100_000  # failure records kept; the oldest go first
FORGET_AFTER = 3600.0  # seconds without a failure after which a record is dropped

Key = tuple[str, ...]


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass
class Throttle:
    config: ProtectionConfig
    _records: dict[Key, _Record] = field(default_factory=dict)

    def _key(self, how: str, user: str, address: str) -> Key:
        return {"address": ("a", address), "account": ("u", user),
                "account_and_address": ("ua", user, address)}[how]  # fmt: skip

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

    def delay(self, user: str, address: str) -> float:
        """Seconds this attempt must wait before it is processed."""
        threshold = self.config.failed_login_threshold
        if not threshold:
            return 0.0
        failures = self._get(self._key(self.config.count_by, user, address)).failures
        if failures < threshold:
            return 0.0
        grown = self.config.min_delay * (failures - threshold + 1)
        return min(self.config.max_delay, grown)

    def locked(self, user: str, address: str) -> tuple[float, int] | None:
        """(seconds remaining, failures) if the account is locked for this client."""
        if not self.config.failed_login_attempts:
            return None
        record = self._get(self._key(self.config.lock_by, user, address))
        remaining = record.locked_until - time.monotonic()
        return (remaining, record.failures) if remaining > 0 else None

    def failure(self, user: str, address: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        hows = {self.config.count_by, self.config.lock_by}
        for how in hows:
            record = self._get(self._key(how, user, address))
            record.failures, record.last = record.failures + 1, now
            attempts = self.config.failed_login_attempts
            if how == self.config.lock_by and attempts and record.failures % attempts == 0:
                record.locked_until = now + self.config.lock_time

    @property
    def enabled(self) -> bool:
        return bool(self.config.failed_login_threshold or self.config.failed_login_attempts)

    def unlock(self, user: str, address: str | None = None) -> int:
        """Forget the user's failures (from `address` only, if given); how many records."""
        keys = [k for k in self._records if k[0] in ("u", "ua") and k[1] == user]
        keys = [k for k in keys if address is None or k[0] == "u" or k[2] == address]
        for key in keys:
            del self._records[key]
        return len(keys)

    def success(self, user: str, address: str) -> None:
        if not self._records:  # nothing has failed (or protection is off): nothing to forget
            return
        for how in {self.config.count_by, self.config.lock_by}:
            self._records.pop(self._key(how, user, address), None)
