"""Do all the bridges on this Redis and key_prefix hold the same fast_auth_key_file?

The key file keys every name in Redis (throttle records are HMACs of names and addresses)
and seals every value: a bridge with another key file reads and writes keys nobody else
uses. Nothing fails, so nothing says so: its failed logins count apart (a lock on one
bridge does not stop the next guess on it), its fast-auth entries and LDAP groups are
misses for the others, and its sessions cannot be KILLed from them.

So each process announces a fingerprint of its key (an HMAC of a fixed text, 8 bytes: it
tells keys apart and gives nothing to forge with) in the hash `<prefix>keys`, fingerprint
-> until (ms, the server's clock), renewed with every heartbeat and gone HEARTBEAT x 3
after the last bridge with that key stopped (a key rotation: once every bridge runs with
the new file). Another fingerprint still alive is an ERROR in the log (once, and an INFO
line when it is gone), a degraded /healthz and `status`, and an error of `check --online`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from bridge.state.engine import Engine

log = logging.getLogger("bridge.state")
FINGERPRINT_TEXT = b"mysql-auth-bridge fast_auth_key_file fingerprint v1"
TTL_MS = 15_000  # as an instance slot: three heartbeats
MAX_OTHERS = 8  # fingerprints reported (the hash is the bridges' own: a writer is trusted)

# KEYS[1]: the hash; ARGV: our fingerprint, ttl ms (0: only read, as check --online does)
# -> the other fingerprints still alive; expired ones are removed
ANNOUNCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then
  redis.call('DEL', KEYS[1])
end
if ttl > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], now + ttl)
  redis.call('PEXPIRE', KEYS[1], ttl)
end
local others = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    local expires = tonumber(all[i + 1])
    if expires and expires > now then
      if #others < tonumber(ARGV[3]) then table.insert(others, all[i]) end
    elseif ttl > 0 then
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
return others
"""


def fingerprint(secret: bytes) -> str:
    return hmac.new(secret, FINGERPRINT_TEXT, hashlib.sha256).hexdigest()[:16]


class KeyCheck:
    def __init__(self, engine: Engine, secret: bytes) -> None:
        self.engine = engine
        self.mine = fingerprint(secret)
        self.key = f"{engine.prefix}keys"
        self.others: list[str] = []
        self._script: Any = None

    async def announce(self, ttl_ms: int = TTL_MS) -> list[str]:
        """Say this key is in use (ttl_ms 0: only look); the other fingerprints alive.
        StateUnavailable when the engine does not answer (nothing changes then)."""

        async def call(client: Any) -> list[str]:
            if self._script is None:
                self._script = client.register_script(ANNOUNCE)
            found = await self._script(keys=[self.key], args=[self.mine, ttl_ms, MAX_OTHERS],
                                       client=client)  # fmt: skip
            return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in found)

        others = await self.engine.run(call)
        if ttl_ms:
            self._learn(others)
        return others

    async def withdraw(self) -> None:
        """At shutdown: this process no longer holds the key (bridges still running with it
        announce it again within a heartbeat)."""
        await self.engine.run(lambda client: client.hdel(self.key, self.mine))

    def _learn(self, others: list[str]) -> None:
        if others and others != self.others:
            log.error("%s", self.problem(others))
        elif self.others and not others:
            log.info("state: every bridge on %s with key_prefix %r now holds the same "
                     "fast_auth_key_file", self.engine.where, self.engine.prefix)  # fmt: skip
        self.others = others

    def problem(self, others: list[str] | None = None) -> str:
        """The mismatch in words, for the log, /healthz, status and check --online."""
        seen = ", ".join(others if others is not None else self.others)
        return (f"another bridge on this state engine and key_prefix {self.engine.prefix!r} "
                f"holds another state.fast_auth_key_file (key fingerprint {seen}; this one's "
                f"is {self.mine}): failed-login counts and locks, the fast-auth cache, LDAP "
                "groups and KILL are not shared with it; give every bridge the same key "
                "file, or each fleet its own key_prefix")  # fmt: skip
