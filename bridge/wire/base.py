"""The contract between a wire method and the session's driver (bridge/auth_io.py).

A wire method's `run()` is a generator: it yields `Send(data)` (a packet to the client:
AuthMoreData, or the AuthSwitchRequest when the driver owes the client a switch) or
`RECEIVE` (give me the client's next packet, sent back in), and returns the Credential it
proved; `proves` names the kinds it can return. It raises Denied or a BridgeError to stop.
It never touches a socket.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from bridge.credentials import Credential
from bridge.errors import SecureTransportRequired
from bridge.rsa_keys import RsaKeyPair


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Receive:
    pass


RECEIVE = Receive()

WireStep = Send | Receive
WireRun = Generator[WireStep, bytes, Credential]


class GssAcceptor(Protocol):
    def step(self, token: bytes) -> bytes | None: ...
    @property
    def complete(self) -> bool: ...
    @property
    def initiator(self) -> str: ...


class GssService(Protocol):
    @property
    def service_principal(self) -> str: ...
    @property
    def realm(self) -> str: ...
    def acceptor(self) -> GssAcceptor: ...


@dataclass(frozen=True)
class WireContext:
    nonce: bytes = field(repr=False)  # the 20-byte scramble the client answers
    secure: bool  # TLS or a Unix socket
    rsa: RsaKeyPair
    allow_insecure_cleartext: bool = False
    # caching_sha2_password: does this fast-auth token match the cached digest?
    fast_auth: Callable[[bytes], bool] = field(default=lambda _token: False, repr=False)
    fast_digest: bytes | None = field(default=None, repr=False)  # what fast_auth checks against
    # dialog: from a backend's worker thread, ask the client a question packet and return
    # its answer (waiting at most the given seconds); the session's AuthExchange provides it
    ask: Callable[[bytes, float], bytes] | None = field(default=None, repr=False)
    peer_uid: int | None = None  # SO_PEERCRED on the Unix socket
    gss: GssService | None = None  # the Kerberos acceptor, when configured
    # client_ed25519: the 32 random bytes the client signs (MariaDB sends its own nonce,
    # not the 20-byte scramble); fresh for every login and every COM_CHANGE_USER.
    nonce32: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # The client plugin the client speaks in this exchange (after the switch, if any), or
    # None when the bridge does not know it.
    client_plugin: str | None = None


@dataclass(frozen=True, slots=True)
class Opening:
    """How the client opened the exchange, for deciding whether to switch it.

    `plugin`: its client plugin (None on COM_CHANGE_USER, whose plugin the bridge does not
    take). `first`: its first answer. `greeted`: that plugin had the bridge's data (it is
    the greeting's plugin, or the session's nonce on COM_CHANGE_USER); libmariadb drops the
    greeting's data when its plugin (--default-auth) is another, sends an empty answer and
    waits for the server's first packet. `can_switch`: CLIENT_PLUGIN_AUTH."""

    plugin: str | None
    first: bytes = field(repr=False)
    greeted: bool = True
    can_switch: bool = True

    @property
    def waiting(self) -> bool:
        """The client's plugin may be waiting for data it never got."""
        return not self.greeted and self.first == b""


@runtime_checkable
class WireMethod(Protocol):
    name: str
    # The credentials run() may return: what this method can feed a backend with (a
    # backend's `accepts` says what it checks; bridge/plugins.py pairs the two).
    proves: tuple[type[Credential], ...]
    # On COM_CHANGE_USER, answer with the connection's first nonce rather than a fresh one:
    # libmariadb's and libmysql's native plugin ignore the AuthSwitchRequest's nonce there.
    keeps_session_nonce: bool
    switch_on_first_send: bool  # the AuthSwitchRequest carries the method's first packet

    def switch_to(self, opening: Opening) -> str | None:
        """The client plugin to send an AuthSwitchRequest for before run(), or None."""
        ...

    def switch_data(self, ctx: WireContext) -> bytes:
        """The plugin data of an AuthSwitchRequest to this method."""
        ...

    def needs_switch(self, first: bytes) -> bool:
        """Does a client that opened with this very method still need the switch (its first
        answer was sent before it had the switch's data)?"""
        ...

    def check_transport(self, ctx: WireContext) -> None:
        """Raise before the client is asked for anything this transport must not carry."""
        ...

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        """Continue from the client's first answer (`first`) to a Credential."""
        ...


class WireMethodBase:
    """Defaults for the WireMethod protocol; each method overrides what differs."""

    name: str
    proves: tuple[type[Credential], ...]
    keeps_session_nonce = False
    switch_on_first_send = False
    # The client's plugin answers the nonce of the greeting (native, caching_sha2, sha256).
    answers_greeting = False

    def switch_to(self, opening: Opening) -> str | None:
        """Switch a client that opened with another method, one that needs the switch's
        data anyway, and one whose plugin is this method's but never got the greeting's
        nonce (it waits for it)."""
        if opening.plugin != self.name or self.needs_switch(opening.first):
            return self.name
        if self.answers_greeting and opening.waiting:
            return self.name
        return None

    def switch_data(self, ctx: WireContext) -> bytes:
        return ctx.nonce + b"\0"

    def needs_switch(self, first: bytes) -> bool:
        return False

    def check_transport(self, ctx: WireContext) -> None:
        return None


class ClearTextMethod(WireMethodBase):
    """A method whose answers are the password in clear: no nonce to send, and TLS or a
    Unix socket only (unless the configuration allows otherwise)."""

    def switch_data(self, ctx: WireContext) -> bytes:
        return b""

    def check_transport(self, ctx: WireContext) -> None:
        require_secure(ctx, f"{self.name} answers")


WIRE_METHODS: dict[str, WireMethod] = {}

W = TypeVar("W")


def register(cls: type[W]) -> type[W]:
    instance = cls()
    assert isinstance(instance, WireMethod)
    WIRE_METHODS[instance.name] = instance
    return cls


def require_secure(ctx: WireContext, what: str) -> None:
    """Clear-text passwords only over TLS or a Unix socket, unless the config says otherwise."""
    if not ctx.secure and not ctx.allow_insecure_cleartext:
        raise SecureTransportRequired(
            SecureTransportRequired.CLEARTEXT, f"{what} over insecure transport"
        )


def is_empty_answer(data: bytes) -> bool:
    """mysqld treats no bytes and a single NUL alike as 'no password'."""
    return data in (b"", b"\0")


def strip_nul(data: bytes) -> bytes:
    return data[:-1] if data.endswith(b"\0") else data
