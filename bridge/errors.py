"""Errors that carry their wire form: each class knows its errno, SQLSTATE and message.

The session turns a BridgeError into one ERR packet in one place. `log_reason` is for the log
and the audit record only; it never goes on the wire and never holds a secret.
"""

from __future__ import annotations

from typing import ClassVar

from bridge.protocol.charsets import UnusableCharset, check_client_charset
from bridge.protocol.packets import ErrPacket

SHOWN_NAME = 80  # characters of a client's user name an ERR packet echoes at most


def bounded_name(name: str, limit: int = SHOWN_NAME) -> str:
    """A client's user name as the bridge echoes it: a bounded prefix of a long one."""
    return name if len(name) <= limit else name[:limit] + "..."


class BridgeError(Exception):
    errno: ClassVar[int]
    sqlstate: ClassVar[str]
    logged = False  # already logged where it happened: the session does not log it again

    def __init__(self, message: str, log_reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_reason = log_reason or message

    def to_err(self) -> ErrPacket:
        return ErrPacket(self.errno, self.sqlstate, self.message)


class AccessDenied(BridgeError):
    """ER_ACCESS_DENIED_ERROR: wrong password, unknown user, failed mapping, no PROXY grant."""

    errno, sqlstate = 1045, "28000"

    def __init__(self, user: str, host: str, used_password: bool, log_reason: str) -> None:
        yes_no = "YES" if used_password else "NO"
        text = f"Access denied for user '{bounded_name(user)}'@'{host}' (using password: {yes_no})"
        super().__init__(text, log_reason)


class AccessDeniedNoPassword(BridgeError):
    """ER_ACCESS_DENIED_NO_PASSWORD_ERROR: a plugin that never mentions a password."""

    errno, sqlstate = 1698, "28000"

    def __init__(self, user: str, host: str, log_reason: str) -> None:
        super().__init__(f"Access denied for user '{bounded_name(user)}'@'{host}'", log_reason)


class AccountBlocked(BridgeError):
    """ER_USER_ACCESS_DENIED_FOR_USER_ACCOUNT_BLOCKED_BY_PASSWORD_LOCK, with the bridge's
    lock time in seconds where mysqld counts days."""

    errno, sqlstate = 3955, "HY000"

    def __init__(self, user: str, host: str, lock: float, remaining: float, failures: int) -> None:
        super().__init__(
            f"Access denied for user '{bounded_name(user)}'@'{host}'. Account is blocked for "
            f"{lock:.0f} second(s) ({remaining:.0f} second(s) remaining) due to {failures} "
            "consecutive failed logins.",
            f"locked after {failures} failed logins",
        )


class MustChangePassword(BridgeError):
    """ER_MUST_CHANGE_PASSWORD_LOGIN, as mysqld refuses an expired password. The bridge
    cannot change a directory's password, so there is no sandbox mode: every client gets
    this, whether or not it sets CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS."""

    errno, sqlstate = 1862, "HY000"
    logged = True  # raised after the 'access denied' line that gives the directory's reason

    def __init__(self, log_reason: str) -> None:
        super().__init__(
            "Your password has expired. To log in you must change it using a client that "
            "supports expired passwords",
            log_reason,
        )


class BadHandshake(BridgeError):
    errno, sqlstate = 1043, "08S01"

    def __init__(self, log_reason: str) -> None:
        super().__init__("Bad handshake", log_reason)


class ClientCharsetRefused(BridgeError):
    """ER_WRONG_VALUE_FOR_VAR, as mysqld refuses a handshake in ucs2, utf16(le) or utf32."""

    errno, sqlstate = 1231, "42000"

    def __init__(self, message: str) -> None:
        super().__init__(message, f"the client's character set: {message}")


def client_charset(charset: int, server_charset: int) -> int:
    """The collation id a client asked for, unless its character set cannot be a client's."""
    try:
        check_client_charset(charset, server_charset)
    except UnusableCharset as exc:
        raise ClientCharsetRefused(str(exc)) from exc
    return charset


class PacketsOutOfOrderError(BridgeError):
    """ER_NET_PACKETS_OUT_OF_ORDER: after login, a packet whose sequence id is not the next."""

    errno, sqlstate = 1156, "08S01"

    def __init__(self, log_reason: str) -> None:
        super().__init__("Got packets out of order", log_reason)


class PacketTooLargeError(BridgeError):
    """ER_NET_PACKET_TOO_LARGE: a packet over the pre-authentication size limit."""

    errno, sqlstate = 1153, "08S01"

    def __init__(self, log_reason: str) -> None:
        super().__init__("Got a packet bigger than 'max_allowed_packet' bytes", log_reason)


class TooManyConnections(BridgeError):
    errno, sqlstate = 1040, "08004"

    def __init__(self) -> None:
        super().__init__("Too many connections")


class SecureTransportRequired(BridgeError):
    """ER_SECURE_TRANSPORT_REQUIRED."""

    errno, sqlstate = 3159, "HY000"

    REQUIRE_SECURE_TRANSPORT = (
        "Connections using insecure transport are prohibited while --require_secure_transport=ON."
    )
    CLEARTEXT = (
        "Clear text authentication over an insecure transport is prohibited: "
        "connect with TLS or through the Unix socket."
    )


class UnknownCommand(BridgeError):
    """ER_UNKNOWN_COM_ERROR, as MariaDB answers COM_CHANGE_USER after three failures."""

    errno, sqlstate = 1047, "08S01"

    def __init__(self) -> None:
        super().__init__("Unknown command")


class UpstreamUnavailable(BridgeError):
    """The bridge could not log in to the upstream server. 3169, as documented since the
    first release (MariaDB has no such code; MySQL's catalog names 3169
    ER_SESSION_WAS_KILLED and 3168 ER_SERVER_ISNT_AVAILABLE): docs/protocol.md says so."""

    errno, sqlstate = 3169, "HY000"

    def __init__(self, log_reason: str) -> None:
        super().__init__(
            "Upstream server is unavailable: the bridge could not open a session there", log_reason
        )


class UpstreamCredentialsRefused(UpstreamUnavailable):
    """The upstream refused the bridge's own credentials for the proxied account: still
    3169 (nothing the client can fix), but the message names the account."""

    def __init__(self, account: str, log_reason: str) -> None:
        BridgeError.__init__(
            self,
            f"Upstream server is unavailable: it refused the bridge's credentials for "
            f"account '{account}'",
            log_reason,
        )


class NotSupportedAuthMode(BridgeError):
    """ER_NOT_SUPPORTED_AUTH_MODE: the account's method needs an AuthSwitchRequest and the
    client did not announce CLIENT_PLUGIN_AUTH (as mysqld answers such clients)."""

    errno, sqlstate = 1251, "08004"

    def __init__(self, log_reason: str) -> None:
        super().__init__(
            "Client does not support authentication protocol requested by server; "
            "consider upgrading MariaDB client",
            log_reason,
        )


class UpstreamRefusal(BridgeError):
    """An upstream ERR about the client's own request (unknown database, too many
    connections for the account, ...), relayed as the upstream sent it."""

    def __init__(self, err: ErrPacket) -> None:
        super().__init__(err.message)
        self._err = err

    def to_err(self) -> ErrPacket:
        return self._err


class Denied(Exception):
    """Raised by wire methods and backends: the credential did not prove the identity.
    The session answers ER_ACCESS_DENIED_ERROR; the reason goes to the log only."""

    def __init__(self, reason: str, resolved: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.resolved = resolved  # names the backend resolved the user to (throttling)


class AccountDisabled(Denied):
    """Raised by the LDAP backend: Active Directory says the account is disabled
    (userAccountControl ACCOUNTDISABLE). Refused even where the directory was asked only
    for groups: a Kerberos ticket issued before the account was disabled proves no more."""


class PasswordChangeRequired(Denied):
    """Raised by a backend: the password was right, but the directory wants it changed
    before it may be used (Active Directory's 773 and 532). The session answers
    ER_MUST_CHANGE_PASSWORD_LOGIN instead of ER_ACCESS_DENIED_ERROR."""


class BackendUnavailable(Exception):
    """A backend could not be asked (directory down, KDC unreachable): an outage, not a
    wrong password. The client still gets a clean ERR."""


class UnknownThread(BridgeError):
    """ER_NO_SUCH_THREAD: KILL of a connection id the bridge does not know."""

    errno, sqlstate = 1094, "HY000"

    def __init__(self, target: int) -> None:
        super().__init__(f"Unknown thread id: {target}")


class KillDenied(BridgeError):
    """ER_KILL_DENIED_ERROR: KILL of another user's session by an account that may not
    kill other users' threads (mysqld's words, with the id the client named)."""

    errno, sqlstate = 1095, "HY000"

    def __init__(self, target: int) -> None:
        super().__init__(f"You are not owner of thread {target}")


class KillNotSupported(BridgeError):
    """ER_NOT_SUPPORTED_YET: a KILL whose connection id the bridge cannot translate."""

    errno, sqlstate = 1235, "42000"

    def __init__(self) -> None:
        super().__init__(
            "This version of MariaDB doesn't yet support 'KILL through mysql-auth-bridge with "
            "a connection id that is not a plain number alone in its query'"
        )
