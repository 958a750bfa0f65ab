"""No secret in a repr, a log line or an exception message: stored hashes, salts, scrambles,
auth responses and auth-switch data stay out of everything a DBA's log could show."""

from __future__ import annotations

import logging

import pytest

from bridge.hashing import (
    HashFormatError,
    NativeHash,
    Sha2CryptHash,
    make_native,
    make_sha2,
    parse_native,
    parse_sha2,
)
from bridge.mapping.accounts import AccountRow
from bridge.protocol.constants import Capability as C
from bridge.protocol.errors import ProtocolError
from bridge.protocol.packets import (
    AuthSwitchRequest,
    ChangeUser,
    HandshakeResponse41,
    HandshakeV10,
    build_handshake_response41,
    parse_auth_switch_request,
    parse_change_user,
    parse_handshake_response41,
    parse_handshake_v10,
)

SECRET = b"S3cr3tS3cr3tS3cr3t!!"  # 20 bytes: a scramble, a salt or a token
NATIVE = b"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"


def traces(secret: bytes) -> list[str]:
    """The ways a secret shows up in text: as bytes, as text, as hex."""
    return [repr(secret)[2:-1], secret.decode("latin-1"), secret.hex(), secret.hex().upper()]


def assert_hidden(text: str, secret: bytes) -> None:
    for trace in traces(secret):
        assert trace not in text, f"{trace!r} in {text!r}"


def logged(caplog: pytest.LogCaptureFixture, obj: object) -> str:
    with caplog.at_level(logging.DEBUG, logger="bridge.test"):
        logging.getLogger("bridge.test").debug("value %r / %s", obj, obj)
    return caplog.text


def native(password: bytes) -> NativeHash:
    made = make_native(password)
    assert isinstance(made, NativeHash)  # a password was given
    return made


SECRET_HOLDERS = [
    (AccountRow("alice", "%", "mysql_native_password", NATIVE, "a.yaml:1"), NATIVE),
    (HandshakeResponse41(0, 0, 45, "alice", SECRET), SECRET),
    (ChangeUser("alice", SECRET, "db"), SECRET),
    (AuthSwitchRequest("mysql_native_password", SECRET), SECRET),
    (HandshakeV10("10.11", 1, SECRET, 0, 45, 2, "mysql_native_password"), SECRET),
    (Sha2CryptHash(5, SECRET, b"D" * 43), SECRET),
    (Sha2CryptHash(5, b"x" * 20, SECRET + b"0123456789abcdefghijklm"), SECRET),
    (native(SECRET), native(SECRET).text().encode()),
]


@pytest.mark.parametrize(("holder", "secret"), SECRET_HOLDERS, ids=lambda v: type(v).__name__)
def test_repr_and_log_lines_hold_no_secret(
    holder: object, secret: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    assert_hidden(repr(holder), secret)
    assert_hidden(str(holder), secret)
    assert_hidden(logged(caplog, holder), secret)
    assert_hidden(logged(caplog, [holder]), secret)  # inside containers too


def test_what_is_not_secret_stays_visible() -> None:
    # The redaction must not hide what an operator needs to read.
    assert "alice" in repr(AccountRow("alice", "%", "p", NATIVE, "a.yaml:1"))
    assert "a.yaml:1" in repr(AccountRow("alice", "%", "p", NATIVE, "a.yaml:1"))
    assert "mysql_native_password" in repr(AuthSwitchRequest("mysql_native_password", SECRET))
    assert "iterations=5" in repr(Sha2CryptHash(5, SECRET, b"D" * 43))


def test_parsed_packets_keep_their_secrets_out_of_repr() -> None:
    caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH
    hello = parse_handshake_response41(
        build_handshake_response41(HandshakeResponse41(caps, 1 << 24, 45, "bob", SECRET))
    )
    assert hello.auth_response == SECRET
    assert_hidden(repr(hello), SECRET)
    switch = parse_auth_switch_request(b"\xfemysql_native_password\0" + SECRET + b"\0")
    assert_hidden(repr(switch), SECRET)
    change = parse_change_user(b"\x11bob\0" + bytes([20]) + SECRET + b"db\0", caps)
    assert change.auth_response == SECRET
    assert_hidden(repr(change), SECRET)


@pytest.mark.parametrize(
    "bad",
    [NATIVE[:-1], NATIVE + b"0", b"*" + b"Z" * 40, b"#" + NATIVE[1:]],
)
def test_native_hash_errors_do_not_quote_the_hash(bad: bytes) -> None:
    with pytest.raises(HashFormatError) as caught:
        parse_native(bad)
    assert_hidden(str(caught.value), bad[1:])
    assert_hidden(repr(caught.value), bad[1:])


@pytest.mark.parametrize(
    "bad",
    [
        b"$A$005$" + SECRET + b"x" * 42,
        b"$A$0G5$" + SECRET + b"x" * 43,
        b"$A$000$" + SECRET + b"x" * 43,
    ],
)
def test_sha2_hash_errors_do_not_quote_the_hash(bad: bytes) -> None:
    with pytest.raises(HashFormatError) as caught:
        parse_sha2(bad)
    assert_hidden(str(caught.value), SECRET)
    for cause in (caught.value.__cause__, caught.value.__context__):
        if cause is not None:
            assert_hidden(str(cause), SECRET)


def test_a_wrong_password_check_raises_nothing_that_could_leak() -> None:
    stored = make_sha2(b"right")
    assert isinstance(stored, Sha2CryptHash)
    assert stored.matches(b"wrong") is False  # a bool, never an exception with the digest


def test_protocol_errors_do_not_quote_the_auth_response() -> None:
    caps = C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION
    head = caps.to_bytes(4, "little") + bytes(4) + b"\x21" + bytes(23) + b"bob\0"
    with pytest.raises(ProtocolError) as caught:
        parse_handshake_response41(head + bytes([40]) + SECRET)  # says 40, has 20
    assert_hidden(str(caught.value), SECRET)
    with pytest.raises(ProtocolError) as caught:
        parse_handshake_v10(b"\x0a10.11\0" + bytes(4) + SECRET[:8])  # cut after the scramble
    assert_hidden(str(caught.value), SECRET[:8])
