"""LDAP (authentication_ldap_simple): find the user's DN, bind as the user with the password
the wire delivered, then look up the user's groups, with MySQL's authentication_ldap_simple
behaviour and none of its classic weaknesses:

- an empty password never reaches a bind (RFC 4513 5.1.2: that is an unauthenticated bind,
  which many servers, OpenLDAP among them, answer with success);
- DN values are escaped per RFC 4514 and filter values per RFC 4515; names with control
  characters or over 256 characters are refused; a search that finds more than one entry
  denies;
- TLS (ldaps:// or StartTLS) with certificate verification, plaintext only when configured;
- servers are tried in order; one that fails is skipped for a while, and the log says why
  (ldapcauses.py); if none answers, the result is BackendUnavailable (an outage, logged as
  such, with each server's cause), never a hang;
- a name the search does not find once gets the bind a wrong password gets, as a decoy DN,
  and the time it takes (ldapdecoy.py);
- never a search from the empty base: without `base_dn`, the base is the directory's own
  naming context, read once from its rootDSE (see `naming_context`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.protocol.sasl.sasl import validate_simple_password
from ldap3.utils.config import get_config_parameter
from ldap3.utils.conv import escape_bytes, escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from bridge.backends.adcodes import bind_refusal
from bridge.backends.base import Identity, Peer
from bridge.backends.ldapcauses import UNRESOLVED, Timeouts, outage_cause, refusal_cause
from bridge.backends.ldapdecoy import BindTimes, decoy_dn
from bridge.budget import ldap_budget
from bridge.config import LdapConfig, check_private
from bridge.credentials import ClearPassword, Credential
from bridge.errors import AccountDisabled, BackendUnavailable, Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import parse_ldap

log = logging.getLogger("bridge.backends.ldap")
T = TypeVar("T")

# A search that found nothing is not an outage: success with no entries, noSuchObject, or a
# referral (never chased: the answer is "not here").
REFERRAL = 10
SEARCH_ANSWERS = {0, 32, REFERRAL}
BUSY_OR_UNAVAILABLE = {51, 52}  # busy, unavailable: try the next server
SERVER_BACKOFF = 5.0  # seconds a failed server is skipped
NESTED_AD = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN
USER_ACCOUNT_CONTROL = "userAccountControl"
ACCOUNTDISABLE = 0x2  # a bit of userAccountControl
MAX_NAME = 256
# seconds ldap3 leaves an address that failed alone ('.seconds > 5': up to 6)
LDAP3_RETRY = get_config_parameter("RESET_AVAILABILITY_TIMEOUT") + 1

_OUTAGE = (ldap_errors.LDAPCommunicationError, ldap_errors.LDAPStartTLSError,
           ldap_errors.LDAPSocketOpenError, ldap_errors.LDAPSessionTerminatedByServerError,
           ldap_errors.LDAPResponseTimeoutError, ldap_errors.LDAPSocketReceiveError,
           ldap_errors.LDAPSocketSendError, ldap_errors.LDAPSSLConfigurationError,
           ssl.SSLError, OSError, TimeoutError)  # fmt: skip


class _ServerDown(Exception):
    """A server could not be used; the text says why (no secret)."""


class NotOneEntry(Denied):
    """The user search found no entry, or several: denied, after a decoy bind."""


def check_user_name(user: str) -> None:
    """LDAP matching ignores surrounding blanks and some servers stop at a NUL: a name the
    directory would read differently from the bridge is refused, not reinterpreted."""
    if (not user or len(user) > MAX_NAME or user != user.strip()
            or any(ord(ch) < 0x20 or ch == "\x7f" for ch in user)):  # fmt: skip
        raise Denied("user name refused for LDAP (empty, blanks around it, control characters "
                     "or too long)")  # fmt: skip


@dataclass
class _Server:
    url: str
    server: ldap3.Server
    down_until: float = 0.0
    times: BindTimes = field(default_factory=BindTimes)
    last_failure: tuple[float, str] | None = None  # when, and why

    def failure(self, cause: str) -> str:
        """The cause to report. ldap3 does not try an address again for a few seconds
        after it failed, and then says only that it has no address: that is the earlier
        failure, not a name that does not resolve."""
        now = time.monotonic()
        if cause == UNRESOLVED and self.last_failure and now - self.last_failure[0] < LDAP3_RETRY:
            when, why = self.last_failure
            return f"{why} ({now - when:.0f} s ago; ldap3 tries it again after {LDAP3_RETRY:g} s)"
        self.last_failure = (now, cause)
        return cause


@dataclass(frozen=True)
class ServerCheck:
    """One server's answer to a service-account bind (`check --online`)."""

    url: str
    failure: str | None  # None: it answered and the bind succeeded


@dataclass
class LookupResult:
    dn: str
    groups: tuple[str, ...]
    server: str


class GroupCache(Protocol):
    """A user's groups by DN (lowercased): this process's (_GroupCache), or shared through
    the state engine (bridge/state/groups.py). Called from the LDAP worker threads."""

    def get(self, key: str) -> tuple[str, ...] | None: ...

    def put(self, key: str, groups: tuple[str, ...]) -> None: ...


@dataclass
class _GroupCache:
    ttl: float
    entries: dict[str, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> tuple[str, ...] | None:
        with self.lock:
            hit = self.entries.get(key)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def put(self, key: str, groups: tuple[str, ...]) -> None:
        if self.ttl > 0:
            with self.lock:
                self.entries[key] = (time.monotonic() + self.ttl, groups)


class LdapBackend:
    name = "ldap"
    accepts: tuple[type[Credential], ...] = (ClearPassword,)

    def __init__(self, config: LdapConfig) -> None:
        self.config = config
        self.pool = ThreadPoolExecutor(config.threads, thread_name_prefix="ldap")
        self.bind_password = self._read_bind_password()
        tls = ldap3.Tls(
            ca_certs_file=str(config.ca) if config.ca else None,
            validate=ssl.CERT_REQUIRED,
            version=ssl.PROTOCOL_TLS_CLIENT,
        )
        self.servers = [
            _Server(url, ldap3.Server(url, use_ssl=url.lower().startswith("ldaps://"), tls=tls,
                                      connect_timeout=config.connect_timeout, get_info=ldap3.NONE))
            for url in config.servers
        ]  # fmt: skip
        self._idle: queue.SimpleQueue[ldap3.Connection] = queue.SimpleQueue()
        # ldap3 packs this into a socket option and takes whole seconds only
        self._receive_timeout = max(1, math.ceil(config.response_timeout))
        self._timeouts = Timeouts(config.connect_timeout, self._receive_timeout)
        self.cache: GroupCache = _GroupCache(config.group_cache_ttl)
        self.outages = 0  # failed attempts to reach a server, for the logs and metrics
        self._naming_context: str | None = None  # base_dn read from the rootDSE, once

    def _read_bind_password(self) -> str | None:
        path = self.config.bind_password_file
        if path is None:
            return None
        check_private(path)
        return path.read_text(encoding="utf-8").rstrip("\r\n")

    # --- the backend contract -------------------------------------------------------------

    async def verify(
        self, credential: Credential, user: str, row: AccountRow, peer: Peer
    ) -> Identity:
        assert isinstance(credential, ClearPassword)
        if not credential.password:
            raise Denied("empty password: no LDAP bind (it would be an unauthenticated bind)")
        check_user_name(user)
        dn_part = parse_ldap(row.authentication_string.decode("utf-8")).target
        password = _carried(credential.password.decode("utf-8", "surrogateescape"))
        found = await self._in_time(self._authenticate, user, password, dn_part)
        return Identity(user, found.groups, self.name, resolved=found.dn)

    async def lookup(
        self, user: str, row: AccountRow, dn_part: str | None = None
    ) -> tuple[str, ...]:
        """The user's groups without a password: for `explain --check-backend`, and for
        Kerberos logins authorised by directory groups (dn_part '': search the user)."""
        check_user_name(user)
        if dn_part is None:
            dn_part = parse_ldap(row.authentication_string.decode("utf-8")).target
        groups: tuple[str, ...] = await self._in_time(self._lookup_groups, user, dn_part)
        return groups

    async def _in_time(self, work: Callable[..., T], *args: Any) -> T:
        """Directory work in a worker thread, within what the timeouts allow on every
        server (bridge/budget.py): beyond that, an outage, never a hang."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(ldap_budget(self.config)):
                return await loop.run_in_executor(self.pool, work, *args)
        except TimeoutError as exc:
            raise BackendUnavailable("LDAP did not answer in time") from exc

    async def check(self) -> None:
        """Health: a service-account bind on a server that answers (raises if none does,
        with each server's cause), and a search base (raises if base_dn is unset and the
        rootDSE names none)."""
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(self.pool, self._connect_service)
        conn.unbind()
        await loop.run_in_executor(self.pool, self._base)

    async def check_each(self) -> list[ServerCheck]:
        """`check --online`: a service-account bind on every server, in order, whether or
        not an earlier one answered; then the search base, if one did."""
        loop = asyncio.get_running_loop()
        found = [await loop.run_in_executor(self.pool, self._check_server, s) for s in self.servers]
        if any(f.failure is None for f in found):
            await loop.run_in_executor(self.pool, self._base)
        return found

    # --- in a worker thread ---------------------------------------------------------------

    def service_account_name(self) -> str | None:
        """The service account's sAMAccountName, for `check --online` to ask Active
        Directory's KDC as it; None when the directory keeps none (OpenLDAP) or there is no
        service account. bind_dn may be a DN, a UPN or 'DOMAIN\\name'."""
        bind = self.config.bind_dn
        if bind is None:
            return None
        if "\\" in bind and "=" not in bind:
            return bind.partition("\\")[2] or None
        if "=" in bind:
            found = self._search(bind, "(objectClass=*)", ["sAMAccountName"], ldap3.BASE)
        else:
            query = f"(userPrincipalName={escape_filter_chars(bind)})"
            found = self._search(self._base(), query, ["sAMAccountName"])
        names = _values(found[0], "sAMAccountName") if len(found) == 1 else []
        return names[0] if names and names[0] else None

    def _authenticate(self, user: str, password: str, dn_part: str) -> LookupResult:
        try:
            dn, attrs = self._user_dn(user, dn_part)
        except NotOneEntry as exc:
            self._decoy_bind(password)
            raise NotOneEntry(f"{exc.reason} (decoy bind made)") from None
        server = self._bind_as_user(dn, password, found=not dn_part)
        groups = self.cache.get(dn.lower())
        if groups is None:
            groups = self._groups(user, dn, attrs)
            self.cache.put(dn.lower(), groups)
        return LookupResult(dn, groups, server)

    def _lookup_groups(self, user: str, dn_part: str) -> tuple[str, ...]:
        """Without a bind (Kerberos logins, explain): the directory's say on the account
        is all there is, so a disabled one is refused here."""
        dn, attrs = self._user_dn(user, dn_part)
        if disabled(attrs):
            raise AccountDisabled(f"LDAP entry {dn!r}: account disabled (userAccountControl)")
        return self._groups(user, dn, attrs)

    def _user_dn(self, user: str, dn_part: str) -> tuple[str, dict[str, Any]]:
        """The DN to bind as: a full DN as given, '+suffix' built from the user search
        attribute, or a search under the base DN as the service account."""
        if dn_part.startswith("+"):
            return f"{self.config.user_search_attr}={escape_rdn(user)},{dn_part[1:]}", {}
        if dn_part:
            return dn_part, {}
        attr = self.config.user_search_attr
        wanted = ["memberOf"] if self.config.groups_from == "memberof" else []
        wanted.append(USER_ACCOUNT_CONTROL)  # Active Directory's; other directories: none
        entries = self._search(self._base(), f"({attr}={escape_filter_chars(user)})", wanted)
        if len(entries) != 1:
            raise NotOneEntry(f"LDAP search for {attr}={user!r} found {len(entries)} entries")
        return entries[0]["dn"], entries[0].get("attributes", {})

    def _bind_as_user(self, dn: str, password: str, found: bool) -> str:
        """A simple bind as the user on a fresh connection: Denied, or the server's URL.
        `found`: the search found the entry. Only then does a refusal's time count as a
        real entry's, which decoys wait for: a `+suffix` or full-DN row's DN may have no
        entry, and its quick refusal would shorten every decoy's wait on that server."""
        failures: list[str] = []
        for candidate, conn, ok, result, took in self._binds(dn, password, "bind", failures):
            _close(conn)
            if ok:
                return candidate.url
            if found:
                candidate.times.note_refused(took)
            refusal = bind_refusal(dn, result)
            refusal.resolved = (dn,)  # throttling counts the entry, however it was spelled
            raise refusal
        raise _none_answered(failures)

    def _decoy_bind(self, password: str) -> None:
        """The bind a wrong password gets, as a DN no entry has, on the server a real bind
        would use; then the wait that makes it last as long (see ldapdecoy.py)."""
        failures: list[str] = []
        for candidate, conn, ok, _, took in self._binds(decoy_dn(self._base()), password,
                                                         "bind", failures):  # fmt: skip
            _close(conn)
            if ok:
                log.error("LDAP server %s accepted a bind as a DN no entry has: it lets "
                          "anyone bind; the login is denied", candidate.url)  # fmt: skip
            time.sleep(candidate.times.decoy_wait(took, self.config.response_timeout))
            return
        raise _none_answered(failures)

    def _binds(
        self, user: str | None, password: str | None, what: str, failures: list[str]
    ) -> Iterator[tuple[_Server, ldap3.Connection, bool, dict[str, Any], float]]:
        """A bind on each server in turn, until the caller stops: (server, connection, ok,
        result, seconds) for a server that answered; one that failed or was busy is skipped
        a while, and why goes to `failures`."""
        for candidate in self._candidates():  # auto_referrals off: a referral is never chased
            conn = self._connection(candidate, user, password)
            started = time.monotonic()
            try:
                ok, result = self._open_and_bind(conn)
            except _ServerDown as exc:
                _close(conn)  # its socket, now: not when the garbage collector gets to it
                self._mark_down(candidate, what, candidate.failure(str(exc)), failures)
                continue
            except BaseException:
                _close(conn)
                raise
            if not ok and result.get("result") in BUSY_OR_UNAVAILABLE:
                _close(conn)
                self._mark_down(candidate, what, refusal_cause(None, result), failures)
                continue
            yield candidate, conn, ok, result, time.monotonic() - started

    def _connection(
        self, candidate: _Server, user: str | None, password: str | None
    ) -> ldap3.Connection:
        return ldap3.Connection(candidate.server, user=user, password=password,
                                client_strategy=ldap3.SAFE_SYNC, raise_exceptions=False,
                                receive_timeout=self._receive_timeout,
                                auto_referrals=False)  # fmt: skip

    def _open_and_bind(self, conn: ldap3.Connection) -> tuple[bool, dict[str, Any]]:
        try:
            conn.open()
            # Each request is one small write: sent at once. With Nagle's algorithm the
            # first request after the TLS handshake waited for the server's delayed ACK
            # (40 ms on Linux), which made every user bind 40 ms slower.
            conn.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not conn.server.ssl and self.config.start_tls and not conn.start_tls():
                raise _ServerDown(f"StartTLS refused: {refusal_cause(None, conn.result or {})}")
            status, result, _, _ = conn.bind()
            return bool(status), result or {}
        except _OUTAGE as exc:
            raise _ServerDown(outage_cause(exc, self._timeouts)) from exc

    def _candidates(self) -> Iterator[_Server]:
        now = time.monotonic()
        up = [s for s in self.servers if s.down_until <= now]
        yield from up or self.servers  # all down: try them all anyway

    def _mark_down(self, server: _Server, what: str, cause: str, failures: list[str]) -> None:
        server.down_until = time.monotonic() + SERVER_BACKOFF
        self.outages += 1
        failures.append(f"{server.url}: {cause}")
        log.warning("LDAP server %s unavailable (%s: %s): skipped for %.0f s", server.url, what,
                    cause, SERVER_BACKOFF)  # fmt: skip

    def _check_server(self, server: _Server) -> ServerCheck:
        """A service-account bind on this server alone, with no retry and no log line."""
        conn = self._connection(server, self.config.bind_dn, self.bind_password)
        try:
            ok, result = self._open_and_bind(conn)
        except _ServerDown as exc:
            server.down_until = time.monotonic() + SERVER_BACKOFF  # the base search skips it
            return ServerCheck(server.url, server.failure(str(exc)))
        finally:
            _close(conn)
        if ok:
            return ServerCheck(server.url, None)
        server.down_until = time.monotonic() + SERVER_BACKOFF
        return ServerCheck(server.url, refusal_cause(self.config.bind_dn, result))

    def _service_refusal(self, result: dict[str, Any]) -> str:
        return f"the service account cannot bind: {refusal_cause(self.config.bind_dn, result)}"

    # --- searches as the service account ---------------------------------------------------

    @contextmanager
    def _service(self) -> Iterator[ldap3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect_service()
        try:
            yield conn
        except BaseException:
            conn.unbind()
            raise
        if self._idle.qsize() < self.config.pool_size:
            self._idle.put(conn)
        else:
            conn.unbind()

    def _connect_service(self) -> ldap3.Connection:
        config, failures = self.config, list[str]()
        for server, conn, ok, result, _ in self._binds(config.bind_dn, self.bind_password,
                                                       "service bind", failures):  # fmt: skip
            if ok:
                return conn
            _close(conn)
            raise BackendUnavailable(f"{self._service_refusal(result)} (on {server.url})")
        raise _none_answered(failures)

    def _base(self) -> str:
        """Where users (and by default groups) are searched: base_dn, else the naming context
        the directory announces. Never '' (a search from the empty base finds nothing)."""
        if self.config.base_dn:
            return self.config.base_dn
        if self._naming_context is None:
            found = self._search("", "(objectClass=*)", list(ROOT_DSE_ATTRIBUTES), ldap3.BASE)
            try:
                self._naming_context = naming_context(found[0] if found else {})
            except NoNamingContext as exc:
                log.warning("LDAP: %s", exc)
                raise Denied(str(exc)) from None
            log.info("LDAP: base_dn not set, searching under %r (from the rootDSE)",
                     self._naming_context)  # fmt: skip
        return self._naming_context

    def _search(
        self, base: str, query: str, attributes: list[str], scope: str = ldap3.SUBTREE
    ) -> list[dict[str, Any]]:
        for _ in range(len(self.servers)):
            try:
                with self._service() as conn:
                    status, result, response, _ = conn.search(
                        base, query, scope, attributes=attributes or [ldap3.NO_ATTRIBUTES]
                    )
            except _OUTAGE as exc:
                log.warning("LDAP search failed (%s): retrying on the next server",
                            outage_cause(exc, self._timeouts))  # fmt: skip
                self.outages += 1
                continue
            if not status and result.get("result") not in SEARCH_ANSWERS:
                raise BackendUnavailable(f"LDAP search failed: {result.get('description')}")
            if result.get("result") == REFERRAL:
                log.info("LDAP search under %r: referral to %s not chased", base,
                         result.get("referrals"))  # fmt: skip
            return [e for e in response or [] if e.get("type") == "searchResEntry"]
        raise BackendUnavailable("no LDAP server answered the search")

    def _groups(self, user: str, dn: str, attrs: dict[str, Any]) -> tuple[str, ...]:
        if self.config.groups_from == "tokengroups":
            return self._token_groups(dn)
        if self.config.groups_from == "memberof":
            member_of = attrs.get("memberOf") or self._member_of(dn)
            return member_of_names(member_of, self.config.group_search_base)
        query = (self.config.group_search_filter.replace("{user}", escape_filter_chars(user))
                 .replace("{dn}", escape_filter_chars(dn)))  # fmt: skip
        base = self.config.group_search_base or self._base()
        if self.config.nested_groups == "ad":
            query = f"(|{query}(member:{NESTED_AD}:={escape_filter_chars(dn)}))"
        found = self._search(base, query, [self.config.group_search_attr])
        names = [n for e in found for n in _values(e, self.config.group_search_attr)]
        if self.config.nested_groups == "walk":
            names += self._walk(base, [e["dn"] for e in found])
        return tuple(dict.fromkeys(names))

    def _walk(self, base: str, group_dns: list[str]) -> list[str]:
        """Groups that contain these groups, breadth first, at most nested_depth levels."""
        seen, frontier, names = set(d.lower() for d in group_dns), group_dns, []
        for _ in range(self.config.nested_depth):
            if not frontier:
                break
            members = "".join(f"(member={escape_filter_chars(d)})" for d in frontier)
            found = self._search(base, f"(|{members})", [self.config.group_search_attr])
            frontier = [e["dn"] for e in found if e["dn"].lower() not in seen]
            seen.update(d.lower() for d in frontier)
            names += [n for e in found for n in _values(e, self.config.group_search_attr)]
        return names

    def _token_groups(self, dn: str) -> tuple[str, ...]:
        """Active Directory's tokenGroups: the SIDs of all the user's groups, nested ones and
        the primary group included, computed by the DC on a base search of the user; then
        their names in one search."""
        entries = self._search(dn, "(objectClass=*)", ["tokenGroups"], ldap3.BASE)
        sids = entries[0].get("raw_attributes", {}).get("tokenGroups", []) if entries else []
        if not sids:
            return ()
        wanted = "".join(f"(objectSid={escape_bytes(bytes(sid))})" for sid in sids)
        base = self.config.group_search_base or self._base()
        found = self._search(base, f"(|{wanted})", [self.config.group_search_attr])
        return tuple(
            dict.fromkeys(n for e in found for n in _values(e, self.config.group_search_attr))
        )

    def _member_of(self, dn: str) -> list[str]:
        entries = self._search(dn, "(objectClass=*)", ["memberOf"])
        return list(entries[0].get("attributes", {}).get("memberOf", [])) if entries else []


def _none_answered(failures: list[str]) -> BackendUnavailable:
    return BackendUnavailable("no LDAP server answered: " + "; ".join(failures))


def _carried(password: str) -> str:
    """The password to bind with. One that a simple bind cannot carry (SASLprep refuses
    control characters and the like) is a wrong password: the bind is made with a random
    one instead, so the client, the timing and the directory's own failure count see what
    a wrong password gives."""
    try:
        validate_simple_password(password)
    except (ldap_errors.LDAPSASLPrepError, ldap_errors.LDAPPasswordIsMandatoryError):
        return secrets.token_hex(24)
    return password


def _close(conn: ldap3.Connection) -> None:
    """Unbind and close the socket, whatever state the connection is in."""
    with contextlib.suppress(Exception):
        conn.unbind()
    with contextlib.suppress(Exception):
        conn.strategy.close()  # unbind may have failed to send: the socket goes anyway


ROOT_DSE_ATTRIBUTES = ("defaultNamingContext", "namingContexts")


class NoNamingContext(ValueError):
    """The rootDSE does not say which naming context to search: base_dn must be set."""


def naming_context(root_dse: dict[str, Any]) -> str:
    """The base for searches when base_dn is not set: Active Directory's
    defaultNamingContext, else the directory's only naming context. Several (or none) is a
    configuration to fix, not a guess to make."""
    default = _values(root_dse, "defaultNamingContext")
    if default and default[0]:
        return default[0]
    contexts = [c for c in _values(root_dse, "namingContexts") if c]
    if len(contexts) == 1:
        return contexts[0]
    named = f" ({'; '.join(contexts)})" if contexts else ""
    raise NoNamingContext(
        f"ldap.base_dn is not set and the directory's rootDSE names {len(contexts)} naming "
        f"contexts{named} and no defaultNamingContext: set ldap.base_dn"
    )


def _values(entry: dict[str, Any], attribute: str) -> list[str]:
    value = entry.get("attributes", {}).get(attribute, [])
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def disabled(attrs: dict[str, Any]) -> bool:
    """Does the entry's userAccountControl (Active Directory) have ACCOUNTDISABLE? An entry
    without one (OpenLDAP) is not disabled; one that is not a number is."""
    value = attrs.get(USER_ACCOUNT_CONTROL)
    if value is None or value == []:
        return False
    text = str(value[0] if isinstance(value, list) else value)
    try:
        return bool(int(text) & ACCOUNTDISABLE)
    except ValueError:
        return True


def member_of_names(member_of: list[str], base: str | None) -> tuple[str, ...]:
    """The group names of a memberOf list: each group's first RDN value, unescaped
    (`CN=a\\+b,...` is `a+b`, as a search reads the group's cn). With a group search base,
    only the groups under it: a group of the same name elsewhere in the directory (an OU
    whose administrators may create groups) is not the one the mapping names. "Under" is
    compared RDN by RDN: a multi-valued RDN (`cn=dbadmins+ou=groups`) is one RDN, never the
    base's `ou=groups` plus a level below it."""
    wanted = None if base is None else _compared(_rdns(base))
    if wanted == []:  # not a DN: no group can be under it (fail closed)
        return ()
    names = []
    for dn in member_of:
        rdns = _rdns(str(dn))
        if not rdns or (wanted is not None and not _strictly_under(_compared(rdns), wanted)):
            continue
        names.append(rdns[0][0][1])
    return tuple(dict.fromkeys(names))


RDN = list[tuple[str, str]]  # an RDN's attribute types and values ('+' joins several)


def _rdns(dn: str) -> list[RDN]:
    """A DN's RDNs, each its attribute types and values unescaped: [] when it is not a DN."""
    try:
        parsed = parse_dn(dn, strip=True)  # blanks around ',' and '=' as RFC 2253 allowed
    except ldap_errors.LDAPInvalidDnError:
        return []
    rdns: list[RDN] = [[]]
    for attribute, value, separator in parsed:
        rdns[-1].append((attribute, unescape_dn_value(value)))
        if separator != "+":
            rdns.append([])
    return [rdn for rdn in rdns if rdn]


def _compared(rdns: list[RDN]) -> list[frozenset[tuple[str, str]]]:
    """As the directory compares the names it uses here (cn, ou, dc): ignoring case, and
    the order of a multi-valued RDN's values."""
    return [frozenset((a.lower(), v.lower()) for a, v in rdn) for rdn in rdns]


def _strictly_under(
    rdns: list[frozenset[tuple[str, str]]], base: list[frozenset[tuple[str, str]]]
) -> bool:
    return len(rdns) > len(base) and rdns[len(rdns) - len(base) :] == base


_DN_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{2}|.)", re.DOTALL)


def unescape_dn_value(value: str) -> str:
    """An RDN value as RFC 4514 escapes it (`\\,`, `\\2C`), read back; hex pairs that make
    UTF-8 are decoded as such."""
    raw = bytearray()
    pos = 0
    for match in _DN_ESCAPE.finditer(value):
        raw += value[pos : match.start()].encode()
        escaped = match.group(1)
        raw += bytes.fromhex(escaped) if len(escaped) == 2 else escaped.encode()
        pos = match.end()
    raw += value[pos:].encode()
    return raw.decode("utf-8", "replace")
