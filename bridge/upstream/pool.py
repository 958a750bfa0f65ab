"""A pool of authenticated upstream connections (`upstream.pool`).

A client that leaves with COM_QUIT hands its upstream connection back. Before it is kept,
one round trip proves it is in step and idle: a query whose answer carries a fresh random
token (everything before that answer, e.g. the rest of a result the client did not read, is
read and dropped) and whose final status says whether a transaction is open (then the
connection is closed, not kept). The answer also gives the session's wait_timeout, so an
idle connection is closed before the upstream would drop it, and CURRENT_USER(): a
connection that is not the account it was meant to be (bridge/upstream/whoami.py) is
closed, and the account is asked again on its next login. A COM_RESET_CONNECTION sent
with it ends what the client held (named locks, LOCK TABLES ...) at once, as its COM_QUIT
would have on a direct connection, and what neither the reset nor COM_CHANGE_USER ends
(multi-statements switched by COM_SET_OPTION, a role enabled by SET ROLE) is set back
(bridge/upstream/leftovers.py). The answers are read as they arrive, by the
connection's sink (_Check), with a timer as the deadline: no task per returning connection.

A new client for the same account gets a kept connection re-identified with
COM_CHANGE_USER: the upstream authenticates the account again, sees the new client's
connection attributes (bridge_external_user ...), and resets the session (user and session
variables, temporary tables, prepared statements, an open transaction, the current
database). The TCP connection, TLS session and upstream thread (CONNECTION_ID()) are the
pooled one's. Any failure closes that connection and the caller logs in afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.config import PoolConfig
from bridge.protocol.codec import Reader, lenenc_bytes
from bridge.protocol.constants import HEADER_SIZE, Capability, Command, Marker, ServerStatus
from bridge.protocol.errors import ProtocolError
from bridge.protocol.framing import take_packet
from bridge.protocol.packets import ChangeUser, build_com_query
from bridge.upstream.leftovers import Step, cleanup_steps, framed_steps
from bridge.upstream.login import LoginRequest, UpstreamError, UpstreamSession, change_user
from bridge.upstream.request import CLIENT_FACING_UPSTREAM_ERRORS
from bridge.upstream.whoami import CURRENT_USER, AccountCheck, token_select

log = logging.getLogger("bridge.pool")
C = Capability

# Capabilities that do not shape the relayed stream: they may differ between the client
# that opened a connection and the one that reuses it.
_NOT_KEYED = C.CLIENT_CONNECT_WITH_DB | C.CLIENT_SSL | C.CLIENT_CONNECT_ATTRS
SYNC_LIMIT = 64 << 20  # bytes of a left-over result read and dropped before giving up
RESET_REPLY_LIMIT = 1 << 16  # an OK (or ERR) packet
WAIT_TIMEOUT_MARGIN = 0.8  # close idle connections at 80 % of the upstream's wait_timeout


@dataclass(frozen=True)
class PoolKey:
    user: str
    secret: bytes = field(repr=False)  # a digest of the upstream password
    capabilities: int

    @classmethod
    def of(cls, user: str, password: bytes, capabilities: int) -> PoolKey:
        digest = hashlib.sha256(password).digest()
        return cls(user, digest, capabilities & ~_NOT_KEYED)


@dataclass
class _Idle:
    session: UpstreamSession
    expiry: asyncio.TimerHandle | None = None  # closes it once idle for too long

    def cancel(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()


def abort(session: UpstreamSession) -> None:
    """Close at once (a reset): for a connection out of step."""
    session.conn.abort()


class UpstreamPool:
    def __init__(self, config: PoolConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout  # for each round trip (the upstream's connect_timeout)
        self.generation = 0
        self._idle: dict[PoolKey, deque[_Idle]] = {}
        self._count = 0
        self._returning: set[_Check] = set()
        self.reused = self.discarded = 0  # for the metrics
        self.accounts = AccountCheck()  # which accounts the upstream gives as themselves

    @property
    def idle(self) -> int:
        return self._count

    def account_check(self, generation: int) -> AccountCheck:
        """What is known of the accounts, for a connection logged in at `generation`: one
        logged in before the last reload (maybe with old credentials) records nothing."""
        return self.accounts if generation == self.generation else AccountCheck()

    # --- taking -----------------------------------------------------------------------------

    async def checkout(self, key: PoolKey, request: LoginRequest) -> UpstreamSession | None:
        """A kept connection for `key`, re-identified as `request` (its attributes too);
        None when there is none (or none that works): the caller logs in afresh."""
        if not self.config.enabled:
            return None
        # One upstream connect_timeout for every kept connection tried, and none tried after
        # one did not answer in time: an upstream that hangs costs the client that time
        # once (then a fresh login's), not once per kept connection (16 per account).
        deadline = asyncio.get_running_loop().time() + self.timeout
        while (idle := self._pop(key)) is not None:
            session = idle.session
            if session.conn.closed.done() or session.conn.has_buffered():
                self._discard(session, "closed or spoke while idle")
                continue
            try:
                async with asyncio.timeout_at(deadline):
                    session.ok_payload = await _change_user(session, request)
            except TimeoutError:
                self._discard(session, f"COM_CHANGE_USER not answered in {self.timeout:g} s")
                return None
            except (UpstreamError, ProtocolError, ConnectionError) as exc:
                self._discard(session, f"COM_CHANGE_USER failed: {exc}")
                if _refuses_the_request(exc):  # another connection would refuse it too
                    raise
                continue
            self.reused += 1
            return session
        return None

    def _pop(self, key: PoolKey) -> _Idle | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        found = idle.pop()  # the most recently used: the warmest, and lets others expire
        found.cancel()
        self._count -= 1
        if not idle:
            del self._idle[key]
        return found

    # --- giving back ------------------------------------------------------------------------

    def give_back(self, key: PoolKey, session: UpstreamSession, generation: int) -> None:
        """The client left with COM_QUIT: send the check, then keep the connection or close
        it once the answers are in (read by its sink, off the session's task)."""
        session.conn.sink = None
        session.conn.on_pause = None
        if not self._may_keep(key, generation):
            close_upstream(session)
            return
        check = _Check(self, key, session, generation)
        self._returning.add(check)
        check.start()

    def _may_keep(self, key: PoolKey, generation: int) -> bool:
        per_account = len(self._idle.get(key, ()))
        return (
            self.config.enabled
            and generation == self.generation
            and per_account < self.config.max_idle_per_account
            and self._count < self.config.max_idle
        )

    def _checked(self, check: _Check, status: int, wait_timeout: float, user: str) -> None:
        """The answers to the check are in: keep the connection, or close it."""
        self._returning.discard(check)
        session, key = check.session, check.key
        current = check.generation == self.generation  # else it tells of old credentials
        if current and not self.accounts.judge(key.user, user):  # (logged there, once)
            self._discard(session, f"the upstream account is {user!r}", close_upstream)
            return
        if status & ServerStatus.SERVER_STATUS_IN_TRANS:  # COM_QUIT: the upstream rolls back
            self._discard(session, "the client left inside a transaction", close_upstream)
            return
        if not self._may_keep(key, check.generation):  # a reload, or others came back
            close_upstream(session)
            return
        lifetime = min(self.config.idle_timeout, wait_timeout * WAIT_TIMEOUT_MARGIN)
        self._keep(key, session, lifetime)

    def _check_failed(self, check: _Check, reason: str) -> None:
        self._returning.discard(check)
        self._discard(check.session, f"not in step after the client left: {reason}")

    def _keep(self, key: PoolKey, session: UpstreamSession, lifetime: float) -> None:
        entry = _Idle(session)
        entry.expiry = session.conn.loop.call_later(lifetime, self._expire, key, entry)
        self._idle.setdefault(key, deque()).append(entry)
        self._count += 1
        log.debug("upstream connection %d kept for %s, up to %.0f s",
                  session.greeting.connection_id, key.user, lifetime)  # fmt: skip

    def _expire(self, key: PoolKey, entry: _Idle) -> None:
        idle = self._idle.get(key)
        if idle is not None and entry in idle:
            idle.remove(entry)
            self._count -= 1
            if not idle:
                del self._idle[key]
            close_upstream(entry.session)

    def _discard(
        self,
        session: UpstreamSession,
        reason: str,
        close: Callable[[UpstreamSession], None] = abort,
    ) -> None:
        """Close a connection found unfit for reuse (by default at once: it is out of step)."""
        self.discarded += 1
        log.debug("upstream connection %d not reused: %s", session.greeting.connection_id, reason)
        close(session)

    # --- emptying ---------------------------------------------------------------------------

    def clear(self, config: PoolConfig | None = None) -> None:
        """Close every kept connection; connections now in use will not come back (a reload,
        new credentials). `config` replaces the settings."""
        self.generation += 1
        self.accounts = AccountCheck()  # what sessions under way find goes to the old one
        if config is not None:
            self.config = config
        for idle in self._idle.values():
            for entry in idle:
                entry.cancel()
                close_upstream(entry.session)
        self._idle.clear()
        self._count = 0

    async def close(self) -> None:
        """On drain: the checks under way end, and nothing is kept."""
        for check in list(self._returning):
            check.stop()
            check.session.conn.abort()
        self._returning.clear()
        self.clear()


def _refuses_the_request(exc: Exception) -> bool:
    """The upstream refused what the client asked for (an unknown database, a limit of the
    account), not this connection: MariaDB takes a second per failed COM_CHANGE_USER, so
    trying each kept connection in turn would cost the client seconds and empty the pool."""
    err = exc.err if isinstance(exc, UpstreamError) else None
    return err is not None and err.errno in CLIENT_FACING_UPSTREAM_ERRORS


def close_upstream(session: UpstreamSession) -> None:
    """Say goodbye (COM_QUIT) and close: the upstream counts no aborted connection."""
    session.conn.sink = None
    session.conn.send_packet(bytes([Command.COM_QUIT]), 0)
    session.conn.close()


async def _change_user(session: UpstreamSession, request: LoginRequest) -> bytes:
    packet = ChangeUser(
        request.user, b"", request.database or "", request.charset, None,
        request.attrs, request.attrs_block,
    )  # fmt: skip
    return await change_user(session, request.user, request.password, packet)


# --- the check when a connection comes back -------------------------------------------------


class _Check:
    """The check of a connection that came back, read as the answers arrive (its sink).

    Sent in one write: a query for a fresh random token, the session's wait_timeout
    (the smaller of the session's and the global one: the reset restores the latter) and
    CURRENT_USER() (the account the connection really is), then
    COM_RESET_CONNECTION, so that what the client held (named locks, LOCK TABLES, temporary
    tables, prepared statements) ends with its COM_QUIT, not when the connection is reused,
    and the commands that end what the reset leaves (SET ROLE NONE, COM_SET_OPTION).
    What comes before the token's answer (left over from the last client) is dropped
    unparsed, up to SYNC_LIMIT bytes: the random token cannot be in it. Anything after the
    answers of those commands, a closed connection or no answer within the pool's timeout:
    not kept."""

    def __init__(
        self, pool: UpstreamPool, key: PoolKey, session: UpstreamSession, generation: int
    ) -> None:
        self.pool = pool
        self.key = key
        self.session = session
        self.generation = generation
        token = os.urandom(16)
        # Binary strings (character_set_results cannot re-encode them: the token as a hex
        # literal, the number cast) and LIMIT 1 (sql_select_limit cannot hide the row):
        # whatever the last client set, the answer is found at once.
        self.query = token_select(
            token,
            b"CAST(LEAST(@@wait_timeout, @@global.wait_timeout) AS BINARY) AS w, "
            + CURRENT_USER
            + b" AS u",
        )
        self.answer = _Answer(lenenc_bytes(token))
        version, capabilities = session.greeting.server_version, session.capabilities
        self.steps: list[Step] = list(cleanup_steps(version, capabilities))
        self.framed_steps = framed_steps(version, capabilities)
        self.found: tuple[bytes, bytes] | None = None
        self.buf = bytearray()
        self.timer: asyncio.TimerHandle | None = None
        self.done = False

    def start(self) -> None:
        conn = self.session.conn
        loop = conn.loop
        self.timer = loop.call_later(self.pool.timeout, self._fail, "no answer in time")
        conn.closed.add_done_callback(self._closed)
        conn.hold_writes()
        conn.send_packet(build_com_query(self.query, self.session.capabilities), 0)
        conn.write(self.framed_steps)
        conn.release_writes()
        conn.sink = self.feed
        if conn.has_buffered():
            self.feed(conn.take_buffered())

    def stop(self) -> None:
        self.done = True
        conn = self.session.conn
        conn.sink = None
        conn.closed.remove_done_callback(self._closed)  # the connection outlives this check
        if self.timer is not None:
            self.timer.cancel()

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        self.buf += data
        try:
            result = self._take()
        except (ProtocolError, ValueError) as exc:
            self._fail(str(exc))
            return
        if result is not None:
            self.stop()
            self.pool._checked(self, *result)

    def _take(self) -> tuple[int, float, str] | None:
        if self.found is None:
            self.found = self.answer.take(self.buf)
            if self.found is None:
                return None
        while self.steps:
            reply = take_packet(self.buf, RESET_REPLY_LIMIT)
            if reply is None:
                return None
            step = self.steps.pop(0)
            if not step.accepts(reply.payload):
                raise ProtocolError(f"{step.what} failed")
        if self.buf:
            raise ProtocolError("the upstream said more than the answers")
        row, end = self.found
        values = Reader(row[len(self.answer.wanted) :])
        wait_timeout = float(values.lenenc_bytes())
        user = values.lenenc_bytes().decode("utf-8", "replace")
        eof_deprecated = bool(self.session.capabilities & C.CLIENT_DEPRECATE_EOF)
        return _final_status(end, eof_deprecated), wait_timeout, user

    def _closed(self, _: object) -> None:
        self._fail("the upstream closed the connection")

    def _fail(self, reason: str) -> None:
        if self.done:
            return
        self.stop()
        self.pool._check_failed(self, reason)


class _Answer:
    """Finds the token's row (header, payload) and the packet after it in the buffer."""

    def __init__(self, wanted: bytes) -> None:
        self.wanted = wanted
        self.dropped = 0

    def take(self, buf: bytearray) -> tuple[bytes, bytes] | None:
        at = buf.find(self.wanted)
        if at < HEADER_SIZE:
            keep = len(self.wanted) + HEADER_SIZE
            if len(buf) > keep:  # nothing before the tail can start the answer
                self.dropped += len(buf) - keep
                del buf[: len(buf) - keep]
            if self.dropped > SYNC_LIMIT:
                raise ProtocolError("too much left over from the last client")
            return None
        start = at - HEADER_SIZE
        row_end = at + int.from_bytes(buf[start : start + 3], "little")
        if len(buf) < row_end + HEADER_SIZE:
            return None
        end_end = row_end + HEADER_SIZE + int.from_bytes(buf[row_end : row_end + 3], "little")
        if len(buf) < end_end:
            return None
        row, end = bytes(buf[at:row_end]), bytes(buf[row_end + HEADER_SIZE : end_end])
        del buf[:end_end]
        return row, end


def _final_status(payload: bytes, eof_deprecated: bool) -> int:
    """The status flags of the packet that ends a result set: EOF, or OK with 0xFE."""
    r = Reader(payload)
    if r.u8() != Marker.EOF:
        raise ProtocolError("the token's row is not followed by the end of the result")
    if eof_deprecated:
        r.lenenc_int()  # affected rows
        r.lenenc_int()  # last insert id
        return r.u16()
    r.u16()  # warnings
    return r.u16()
