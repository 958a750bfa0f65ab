"""The connection to the state engine (Redis or Valkey), through redis-py's asyncio client.

Every call goes through `Engine.run`: bounded by `command_timeout`, so a slow or absent
server never holds up a login for long, and never blocks the event loop. A failure marks
the engine down for a backoff that doubles (0.25 s up to 10 s) while it stays down; during
the backoff calls fail at once, without touching the network. The first failure logs a
WARNING, the recovery an INFO line; `errors` and `up` feed the metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from bridge.causes import first_cause, fixed
from bridge.config import ConfigError, StateConfig, check_private

log = logging.getLogger("bridge.state")
T = TypeVar("T")
FIRST_BACKOFF = 0.25  # seconds
MAX_BACKOFF = 10.0


class BadReply(RedisError):
    """A reply of another shape than the command's (not from a Redis that ran it)."""


class StateUnavailable(Exception):
    """The state engine did not answer (down, slow, refusing): callers fall back. The
    text names the URL and the cause in words (`connection refused`), never a secret."""


class StateDataError(StateUnavailable):
    """The engine answered, but a key held what a bridge never writes (another type): a
    miss for that call, the engine is not down."""


DATA_ERRORS = ("WRONGTYPE", "ERR value is not an integer", "ERR hash value is not an integer")


def _verify_failed(found: re.Match[str], _: StateConfig) -> str:
    return (f"TLS certificate verify failed ({found.group(1).strip()}): check state.tls_ca "
            "and the URL's host name")  # fmt: skip


# (pattern on the error's class and text, what it means): the first that matches says it.
# redis-py's texts hold the address and the server's words, never the password.
CAUSES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], StateConfig], str]], ...] = (
    (re.compile(r"certificate verify failed: ([^(]*)"), _verify_failed),
    (re.compile(r"\[SSL: ([A-Z_]+)\]"),
     lambda found, _: f"TLS handshake failed ({found.group(1).lower().replace('_', ' ')})"),
    (re.compile(r"Connection refused|Connect call failed"), fixed("connection refused")),
    (re.compile(r"Name or service not known|nodename nor servname|Temporary failure in name"),
     fixed("the host name does not resolve")),
    (re.compile(r"NOAUTH|Authentication required|HELLO must be called with the client already "
                r"authenticated"),
     fixed("the server wants a password: set state.password_file (and state.username)")),
    (re.compile(r"WRONGPASS|invalid username-password pair|invalid password"),
     fixed("authentication refused: wrong state.username or state.password_file")),
    (re.compile(r"NOPERM|no permissions"),
     fixed("the ACL user may not run the bridge's commands (it needs its keys' read/write, "
            "EVALSHA/EVAL, SCAN, PING)")),
    (re.compile(r"^BadReply (.*)"), lambda found, _: f"a reply Redis does not give ({found[1]})"),
    (re.compile(r"OOM command not allowed"),
     fixed("the server is out of memory (maxmemory): writes refused")),
    (re.compile(r"READONLY"), fixed("the server is a read-only replica: point state.url at "
                                     "the primary")),
    (re.compile(r"Connection closed by server|Connection reset|Broken pipe", re.I),
     fixed("the server closed the connection")),
    (re.compile(r"^TimeoutError"),
     lambda _, config: f"no answer within {config.command_timeout + config.connect_timeout:g} s"),
    (re.compile(r"Timeout connecting|connect timed out", re.I),
     lambda _, config: f"no connection within {config.connect_timeout:g} s"),
    (re.compile(r"Timeout reading|timed out", re.I),
     lambda _, config: f"no answer within {config.command_timeout:g} s"),
)  # fmt: skip


def cause(exc: BaseException, config: StateConfig) -> str:
    """Why a call to the state engine failed, in words a DBA can act on."""
    return first_cause(f"{type(exc).__name__} {exc}", CAUSES, config, exc)


def read_password(config: StateConfig) -> str | None:
    if config.password_file is None:
        return None
    check_private(config.password_file)
    return config.password_file.read_text(encoding="utf-8").rstrip("\r\n")


def _client(url: str, config: StateConfig, password: str | None) -> aioredis.Redis:
    options: dict[str, Any] = {
        "socket_connect_timeout": config.connect_timeout,
        "socket_timeout": config.command_timeout,
        "retry_on_timeout": False,
        "health_check_interval": 0,
    }
    if password is not None:
        options["password"] = password
    if config.username is not None:
        options["username"] = config.username
    if url.startswith("rediss://"):
        options.update(_tls_options(config))
    try:
        client: aioredis.Redis = aioredis.Redis.from_url(url, **options)
    except ValueError as exc:  # the URL holds no password (config.py refuses one)
        raise ConfigError(f"state.url {url!r}: {exc}") from None
    return client


def _tls_options(config: StateConfig) -> dict[str, Any]:
    """rediss://: the certificate checked against the CA and the host name, TLS 1.2 or
    later, whatever the redis-py version's defaults."""
    return {
        "ssl_ca_certs": str(config.tls_ca) if config.tls_ca else None,
        "ssl_certfile": str(config.tls_cert) if config.tls_cert else None,
        "ssl_keyfile": str(config.tls_key) if config.tls_key else None,
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_min_version": ssl.TLSVersion.TLSv1_2,
    }


class Engine:
    def __init__(self, config: StateConfig, announce: bool = True) -> None:
        """`announce`: log going down and coming back (a one-off probe, such as `check
        --online`'s, reports the failure itself)."""
        self.config = config
        self.announce = announce
        self.prefix = config.key_prefix
        password = read_password(config)
        self.urls = config.all_urls
        self._clients = [_client(url, config, password) for url in self.urls]
        self._current = 0
        self._backoff = 0.0
        self._retry_at = 0.0
        self.errors = 0  # failed calls, for the metrics
        self.up = True
        self.last_failure = ""  # the URL and cause of the last failure, for messages

    @property
    def client(self) -> aioredis.Redis:
        return self._clients[self._current]

    @property
    def available(self) -> bool:
        """False while backing off after a failure: callers go straight to their fallback."""
        return time.monotonic() >= self._retry_at

    @property
    def where(self) -> str:
        return f"state engine {self.urls[self._current]}"

    async def run(self, op: Callable[[aioredis.Redis], Awaitable[T]], *, now: bool = False) -> T:
        """`op(client)` within command_timeout; StateUnavailable if it fails or is skipped.
        `now`: ask even while backing off (an operator's command, such as unlock, is answered
        from what the engine says at that moment, not from the last failure)."""
        if not (now or self.available):
            raise StateUnavailable(f"{self.last_failure}; not asked again until "
                                   f"{max(0.0, self._retry_at - time.monotonic()):.1f} s from "
                                   "now")  # fmt: skip
        try:
            async with asyncio.timeout(self.config.command_timeout + self.config.connect_timeout):
                result = await op(self.client)
        except ResponseError as exc:
            if str(exc).startswith(DATA_ERRORS):
                self._recovered()
                raise StateDataError(f"state engine: {str(exc).split(' ', 1)[0]}") from None
            raise StateUnavailable(self._failed(exc)) from None
        except (RedisError, OSError, TimeoutError) as exc:
            raise StateUnavailable(self._failed(exc)) from None
        except (ValueError, TypeError, IndexError) as exc:
            # A reply of a shape no Redis gives to the command (a process that took the
            # address while redis-server was down, a broken proxy): as good as no answer.
            raise StateUnavailable(self._failed(exc, "a reply Redis does not give "
                                                f"({type(exc).__name__})")) from None  # fmt: skip
        self._recovered()
        return result

    def _failed(self, exc: Exception, why: str | None = None) -> str:
        """Count the failure and back off; the text for StateUnavailable and the log."""
        self.errors += 1
        why = why or cause(exc, self.config)
        self.last_failure = f"{self.where}: {why}"
        if self.up and self.announce:
            log.warning("%s unavailable (%s): caches miss, throttling as "
                        "state.throttle_when_down says", self.where, why)  # fmt: skip
        self.up = False
        self._current = (self._current + 1) % len(self._clients)  # the next URL, if any
        self._backoff = min(MAX_BACKOFF, self._backoff * 2 if self._backoff else FIRST_BACKOFF)
        self._retry_at = time.monotonic() + self._backoff
        return self.last_failure

    def _recovered(self) -> None:
        """An answer: no more backing off, even from a failure of a call that was in
        flight with this one (a connection the restarted server had closed)."""
        if not self.up and self.announce:
            log.info("%s answers again", self.where)
        self.up, self._backoff, self._retry_at = True, 0.0, 0.0

    async def close(self) -> None:
        for client in self._clients:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
