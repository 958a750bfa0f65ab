"""Each wire method as a generator: bytes in, bytes out, no sockets."""

import pytest

from bridge import rsa_keys
from bridge.credentials import (
    ClearPassword,
    Credential,
    NativeScramble,
    PeerCredentials,
    Sha2Scramble,
)
from bridge.errors import Denied, SecureTransportRequired
from bridge.scramble import check_sha2_token, sha2_digest2, sha2_token
from bridge.upstream.client_auth import rsa_encrypt
from bridge.wire import WIRE_METHODS, Receive, Send, WireContext
from bridge.wire.base import Opening
from tests.vectors import DATA

NONCE = bytes(range(1, 21))
RSA = rsa_keys.load(DATA / "boost_csha2p_private_key_2048.pem")


def ctx(secure: bool, fast: bytes | None = None, allow: bool = False) -> WireContext:
    def fast_auth(token: bytes) -> bool:
        return fast is not None and check_sha2_token(token, NONCE, sha2_digest2(fast))

    return WireContext(NONCE, secure, RSA, allow, fast_auth)


def drive(
    name: str, context: WireContext, first: bytes, replies: list[bytes]
) -> tuple[list[bytes], Credential]:
    """Run a wire method with scripted client replies; return what it sent and proved."""
    run = WIRE_METHODS[name].run(context, first)
    sent: list[bytes] = []
    replies = list(replies)
    try:
        step = next(run)
        while True:
            if isinstance(step, Send):
                sent.append(step.data)
                step = next(run)
            else:
                assert isinstance(step, Receive)
                step = run.send(replies.pop(0))
    except StopIteration as done:
        assert not replies, "the method stopped before reading every reply"
        return sent, done.value


def test_registry_holds_the_mysql_names() -> None:
    assert set(WIRE_METHODS) == {"mysql_native_password", "caching_sha2_password", "sha256_password",
                                 "mysql_clear_password", "dialog", "auth_socket",
                                 "authentication_kerberos_client", "auth_gssapi_client",
                                 "client_ed25519", "authentication_openid_connect_client"}  # fmt: skip
    for name in ("mysql_native_password", "caching_sha2_password", "sha256_password"):
        assert WIRE_METHODS[name].switch_data(ctx(True)) == NONCE + b"\0"
    for name in (
        "mysql_clear_password",
        "dialog",
        "auth_socket",
        "authentication_openid_connect_client",
    ):
        assert WIRE_METHODS[name].switch_data(ctx(True)) == b""


class FakeGss:
    service_principal = "mysql/db@EXAMPLE.COM"
    realm = "EXAMPLE.COM"

    def acceptor(self) -> "FakeAcceptor":
        return FakeAcceptor()


class FakeAcceptor:
    """Two rounds: a reply to the first token, complete after the second."""

    def __init__(self) -> None:
        self.rounds = 0

    def step(self, token: bytes) -> bytes | None:
        self.rounds += 1
        return b"server-" + token if self.rounds == 1 else None

    @property
    def complete(self) -> bool:
        return self.rounds >= 2

    @property
    def initiator(self) -> str:
        return "alice@EXAMPLE.COM"


def gss_ctx() -> WireContext:
    return WireContext(NONCE, True, RSA, gss=FakeGss())


def test_gssapi_first_packets_byte_exact() -> None:
    mysql = WIRE_METHODS["authentication_kerberos_client"].switch_data(gss_ctx())
    assert mysql == b"\x14\x00mysql/db@EXAMPLE.COM\x0b\x00EXAMPLE.COM"  # u16 SPN, u16 realm
    mariadb = WIRE_METHODS["auth_gssapi_client"].switch_data(gss_ctx())
    assert mariadb == b"mysql/db@EXAMPLE.COM\x00\x00"  # principal NUL, mechanism '' NUL


@pytest.mark.parametrize("name", ["authentication_kerberos_client", "auth_gssapi_client"])
def test_gssapi_token_loop(name: str) -> None:
    from bridge.credentials import GssapiName

    sent, cred = drive(name, gss_ctx(), b"t1", [b"t2"])
    assert sent == [b"server-t1"] and cred == GssapiName("alice@EXAMPLE.COM")
    with pytest.raises(Denied):
        drive(name, gss_ctx(), b"", [])
    with pytest.raises(Denied):
        drive(name, WireContext(NONCE, True, RSA), b"t1", [])  # Kerberos not configured


@pytest.mark.parametrize(
    ("first", "token"), [(b"\x01" * 20, b"\x01" * 20), (b"", b""), (b"\0", b"")]
)
def test_native_returns_the_scramble(first: bytes, token: bytes) -> None:
    sent, cred = drive("mysql_native_password", ctx(False), first, [])
    assert sent == [] and cred == NativeScramble(NONCE, token)


def test_caching_sha2_fast_auth() -> None:
    token = sha2_token(b"secret", NONCE)
    sent, cred = drive("caching_sha2_password", ctx(False, fast=b"secret"), token, [])
    assert sent == [b"\x03"] and cred == Sha2Scramble(NONCE, token)


def test_caching_sha2_full_auth_over_tls() -> None:
    token = sha2_token(b"secret", NONCE)
    sent, cred = drive("caching_sha2_password", ctx(True), token, [b"secret\0"])
    assert sent == [b"\x04"] and cred == ClearPassword(b"secret")


def test_caching_sha2_wrong_fast_token_falls_back_to_full_auth() -> None:
    token = sha2_token(b"wrong", NONCE)
    sent, cred = drive("caching_sha2_password", ctx(True, fast=b"secret"), token, [b"wrong\0"])
    assert sent == [b"\x04"] and cred == ClearPassword(b"wrong")


def test_caching_sha2_rsa_with_key_request() -> None:
    token = sha2_token(b"secret", NONCE)
    ciphertext = rsa_encrypt(b"secret", NONCE, RSA.public_pem)
    sent, cred = drive("caching_sha2_password", ctx(False), token, [b"\x02", ciphertext])
    assert sent == [b"\x04", RSA.public_pem] and cred == ClearPassword(b"secret")


def test_caching_sha2_rsa_with_known_key() -> None:
    ciphertext = rsa_encrypt(b"secret", NONCE, RSA.public_pem)
    _, cred = drive("caching_sha2_password", ctx(False), b"\x05" * 32, [ciphertext])
    assert cred == ClearPassword(b"secret")


def test_caching_sha2_clear_password_over_plain_tcp_is_not_accepted() -> None:
    # Without TLS the reply must be RSA ciphertext; a clear password is refused, not read.
    with pytest.raises(
        Denied,
        match=r"not RSA-encrypted with this key \(7 bytes, not \d+\) on a connection without TLS",
    ):
        drive("caching_sha2_password", ctx(False), b"\x05" * 32, [b"secret\0"])


def test_caching_sha2_empty_password() -> None:
    assert drive("caching_sha2_password", ctx(False), b"", [])[1] == ClearPassword(b"")


def test_sha256_tls_rsa_and_empty() -> None:
    assert drive("sha256_password", ctx(True), b"pw\0", [])[1] == ClearPassword(b"pw")
    ciphertext = rsa_encrypt(b"pw", NONCE, RSA.public_pem)
    sent, cred = drive("sha256_password", ctx(False), b"\x01", [ciphertext])
    assert sent == [RSA.public_pem] and cred == ClearPassword(b"pw")
    assert drive("sha256_password", ctx(False), b"\0", [])[1] == ClearPassword(b"")


def test_rsa_plaintext_without_nul_is_denied() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from bridge.scramble import xor_with_scramble

    sha1 = hashes.SHA1()  # noqa: S303 - fixed by the protocol
    oaep = padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None)
    ciphertext = RSA.private_key.public_key().encrypt(xor_with_scramble(b"pw", NONCE), oaep)
    with pytest.raises(Denied):
        drive("sha256_password", ctx(False), ciphertext, [])


def test_clear_password_needs_a_secure_transport() -> None:
    method = WIRE_METHODS["mysql_clear_password"]
    with pytest.raises(SecureTransportRequired):
        method.check_transport(ctx(False))
    with pytest.raises(SecureTransportRequired):
        drive("mysql_clear_password", ctx(False), b"pw\0", [])
    assert drive("mysql_clear_password", ctx(True), b"pw\0", [])[1] == ClearPassword(b"pw")
    assert drive("mysql_clear_password", ctx(False, allow=True), b"pw\0", [])[1] == ClearPassword(
        b"pw"
    )


def test_credential_reprs_hide_secrets() -> None:
    assert "secret" not in repr(ClearPassword(b"secret"))
    assert repr(NativeScramble(NONCE, b"\x07" * 20)) == "NativeScramble()"


def test_openid_connect_token_only_over_a_secure_transport() -> None:
    """A bearer token: TLS or the Unix socket, even where cleartext passwords are allowed."""
    from bridge.credentials import OidcToken
    from bridge.protocol.codec import lenenc_bytes

    name = "authentication_openid_connect_client"
    answer = b"\x01" + lenenc_bytes(b"h.p.s" * 300)
    assert drive(name, ctx(True), answer, []) == ([], OidcToken(b"h.p.s" * 300))
    for insecure in (ctx(False), ctx(False, allow=True)):
        with pytest.raises(SecureTransportRequired):
            WIRE_METHODS[name].check_transport(insecure)
        with pytest.raises(SecureTransportRequired):
            drive(name, insecure, answer, [])


# --- auth_socket: the exchange ends where the client's plugin expects it to -------------


def sock_ctx(plugin: str | None) -> WireContext:
    return WireContext(NONCE, True, RSA, peer_uid=1234, client_plugin=plugin)


@pytest.mark.parametrize(
    ("opening", "target"),
    [
        (Opening("caching_sha2_password", b"\x01" * 32), None),  # answered the greeting
        (Opening("caching_sha2_password", b""), None),  # no password: waits for the OK
        (Opening("mysql_native_password", b"", greeted=False), "mysql_native_password"),
        (Opening("caching_sha2_password", b"", greeted=False), "caching_sha2_password"),
        (Opening("sha256_password", b"", greeted=False), "sha256_password"),
        (Opening("client_ed25519", b"", greeted=False), "client_ed25519"),
        # plugins the bridge cannot end in their own terms: switched to the universal one
        (Opening("auth_gssapi_client", b"", greeted=False), "mysql_native_password"),
        (Opening("dialog", b"", greeted=False), "mysql_native_password"),
        # answered the greeting's nonce with another plugin (Connector/Python's auth_plugin)
        (Opening("mysql_native_password", b"\x01" * 20, greeted=False), None),
        (Opening("mysql_clear_password", b"pw\0", greeted=False), None),
        (Opening(None, b""), "mysql_native_password"),  # COM_CHANGE_USER
        (Opening(None, b"", can_switch=False), None),
        (Opening("dialog", b"", greeted=False, can_switch=False), None),
    ],
)
def test_auth_socket_switches_a_client_that_may_be_waiting(
    opening: Opening, target: str | None
) -> None:
    assert WIRE_METHODS["auth_socket"].switch_to(opening) == target


def test_auth_socket_answers_a_caching_sha2_scramble_with_fast_auth_success() -> None:
    sent, cred = drive("auth_socket", sock_ctx("caching_sha2_password"), b"\x01" * 32, [])
    assert sent == [b"\x03"] and cred == PeerCredentials(1234)
    # libmariadb before 3.1 sent the password in clear over TLS and waited for the OK
    assert drive("auth_socket", sock_ctx("caching_sha2_password"), b"secret\0", [])[0] == []
    assert drive("auth_socket", sock_ctx("caching_sha2_password"), b"", [])[0] == []


def test_auth_socket_sends_sha256_the_key_it_asks_for_and_drops_the_answer() -> None:
    sent, cred = drive("auth_socket", sock_ctx("sha256_password"), b"\x01", [b"\xaa" * 256])
    assert sent == [RSA.public_pem] and cred == PeerCredentials(1234)
    assert drive("auth_socket", sock_ctx("sha256_password"), b"secret\0", [])[0] == []


@pytest.mark.parametrize(
    ("plugin", "first"),
    [
        ("mysql_native_password", b"\x01" * 20),
        ("client_ed25519", b"\x01" * 64),
        ("mysql_clear_password", b"secret\0"),
        ("dialog", b"secret\0"),
        (None, b"\x01" * 20),
    ],
)
def test_auth_socket_ends_other_plugins_at_once(plugin: str | None, first: bytes) -> None:
    sent, cred = drive("auth_socket", sock_ctx(plugin), first, [])
    assert sent == [] and cred == PeerCredentials(1234)


@pytest.mark.parametrize(
    "name", ["mysql_native_password", "caching_sha2_password", "sha256_password"]
)
def test_a_client_of_the_method_that_never_got_the_nonce_is_switched(name: str) -> None:
    """libmariadb with --default-auth naming a plugin the greeting did not propose."""
    method = WIRE_METHODS[name]
    assert method.switch_to(Opening(name, b"", greeted=False)) == name
    assert method.switch_to(Opening(name, b"")) is None  # the greeting's plugin: no password
    assert method.switch_to(Opening(name, b"\x01" * 20, greeted=False)) is None
    assert method.switch_to(Opening("dialog", b"")) == name


def test_clear_text_methods_take_an_opening_answer_as_it_is() -> None:
    for name in ("mysql_clear_password", "dialog"):
        assert WIRE_METHODS[name].switch_to(Opening(name, b"", greeted=False)) is None
