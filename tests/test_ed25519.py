"""MariaDB's ed25519: keys and signatures checked against MariaDB's own values."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge import ed25519, rsa_keys
from bridge.backends.base import Peer
from bridge.backends.store import StoreBackend, stored_hash
from bridge.credentials import ClearPassword, Ed25519Signature
from bridge.errors import Denied
from bridge.hashing import Ed25519Key, HashFormatError, make_ed25519, parse_ed25519, to_text
from bridge.importsql import import_sql, to_yaml
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import client_host
from bridge.plugins import PLUGINS, validate_wire_method
from bridge.runtime import load_accounts
from bridge.upstream.client_auth import NativeClient, UpstreamAuthError, client_plugin
from bridge.wire import WIRE_METHODS, WireContext
from tests.vectors import DATA, load

VECTORS = load("ed25519_mariadb.json")
SIGNED = VECTORS["signature"]
NONCE = bytes(range(32))
RSA = rsa_keys.load(DATA / "boost_csha2p_private_key_2048.pem")
PEER = Peer(client_host("127.0.0.1", False), "tls")


def test_signature_matches_mariadbs_test_vector() -> None:
    message = SIGNED["nonce_ascii"].encode()
    signature = ed25519.sign(SIGNED["password"].encode(), message)
    assert signature.hex() == SIGNED["signature_hex"]
    key = ed25519.public_key(SIGNED["password"].encode())
    assert ed25519.verify(key, signature, message)


@pytest.mark.parametrize("case", VECTORS["stored"], ids=lambda c: repr(c["password"])[:12])
def test_stored_value_is_what_mariadb_stores(case: dict[str, Any]) -> None:
    password = case["password"].encode()
    assert to_text(make_ed25519(password)) == case["authentication_string"]
    stored = parse_ed25519(case["authentication_string"].encode())
    assert stored == make_ed25519(password)
    assert stored.matches(password) is bool(password)  # MariaDB: '' lets nobody in


def test_signature_proves_the_password_and_the_nonce() -> None:
    stored = parse_ed25519(VECTORS["stored"][1]["authentication_string"].encode())  # 'secret'
    good = ed25519.sign(b"secret", NONCE)
    assert stored.verifies(good, NONCE)
    assert not stored.verifies(good, bytes(32))  # another nonce
    assert not stored.verifies(ed25519.sign(b"Secret", NONCE), NONCE)
    assert not stored.verifies(ed25519.sign(b"", NONCE), NONCE)
    flipped = bytes([good[0] ^ 1]) + good[1:]
    assert not stored.verifies(flipped, NONCE)


@pytest.mark.parametrize("signature", [b"", b"\0", bytes(63), bytes(65), bytes(64), b"\xff" * 64])
def test_malformed_signatures_fail(signature: bytes) -> None:
    stored = make_ed25519(b"secret")
    assert not stored.verifies(signature, NONCE)
    good = ed25519.sign(b"secret", NONCE)
    assert not stored.verifies(good + signature[:1] + b"\0", NONCE)  # trailing bytes


def test_empty_key_verifies_nothing() -> None:
    empty = Ed25519Key(b"")
    assert not empty.verifies(ed25519.sign(b"", NONCE), NONCE)
    assert not empty.matches(b"")
    assert to_text(empty) == ""


@pytest.mark.parametrize(
    "text",
    [b"short", b"qv2mG6HWCuy32Slb5xhV4THStewNz2VINVPbgk+XAJ8=",  # 44: padding is not stored
     b"qv2mG6HWCuy32Slb5xhV4THStewNz2VINVPbgk+XAJ!", b"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"],
)  # fmt: skip
def test_bad_ed25519_hash(text: bytes) -> None:
    with pytest.raises(HashFormatError, match="43 base64"):
        parse_ed25519(text)


def test_key_repr_is_public_only() -> None:
    # The public key is no secret (mysql.global_priv shows it), but nothing else is kept.
    assert repr(make_ed25519(b"secret")).startswith("Ed25519Key(public_key=")
    assert "secret" not in repr(Ed25519Signature(NONCE, b"sig"))


def _row(password: bytes) -> AccountRow:
    text = to_text(make_ed25519(password)).encode()
    return AccountRow("ed", "%", "ed25519", text, "accounts.yaml:1")


async def test_store_checks_signatures_and_clear_passwords() -> None:
    store, row, peer = StoreBackend(), _row(b"secret"), PEER
    identity = await store.verify(
        Ed25519Signature(NONCE, ed25519.sign(b"secret", NONCE)), "ed", row, peer
    )
    assert identity.name == "ed"
    await store.verify(ClearPassword(b"secret"), "ed", row, peer)  # mysql_clear_password
    for credential in (Ed25519Signature(NONCE, ed25519.sign(b"wrong", NONCE)), ClearPassword(b"wrong"),
                       Ed25519Signature(bytes(32), ed25519.sign(b"secret", NONCE))):  # fmt: skip
        with pytest.raises(Denied):
            await store.verify(credential, "ed", row, peer)


async def test_store_refuses_a_signature_for_another_plugins_row() -> None:
    native = AccountRow("n", "%", "mysql_native_password", b"", "accounts.yaml:1")
    with pytest.raises(Denied):  # an empty native password is no key to verify against
        await StoreBackend().verify(Ed25519Signature(NONCE, bytes(64)), "n", native, PEER)


def test_upstream_client_signs_the_servers_nonce() -> None:
    plugin = client_plugin("client_ed25519", b"secret", NONCE, secure=False)
    assert make_ed25519(b"secret").verifies(plugin.first(), NONCE)
    with pytest.raises(UpstreamAuthError, match="no further data"):
        plugin.more(b"\x01")


@pytest.mark.parametrize("nonce", [NONCE[:20], NONCE[:20] + b"\0", b""])
def test_upstream_client_refuses_a_short_nonce(nonce: bytes) -> None:
    with pytest.raises(UpstreamAuthError, match="not 32 bytes"):
        client_plugin("client_ed25519", b"secret", nonce, secure=False).first()


def test_scramble_plugins_still_get_twenty_bytes() -> None:
    plugin = client_plugin("mysql_native_password", b"pw", NONCE[:20] + b"\0", secure=False)
    assert isinstance(plugin, NativeClient) and plugin.nonce == NONCE[:20]


def test_wire_method_sends_a_fresh_32_byte_nonce_and_returns_the_signature() -> None:
    method = WIRE_METHODS["client_ed25519"]
    first, second = (WireContext(bytes(20), True, RSA) for _ in range(2))
    assert len(method.switch_data(first)) == 32 and first.nonce32 not in method.switch_data(second)
    assert method.switch_data(first) == first.nonce32  # as MariaDB sends it: no NUL after it
    assert method.needs_switch(bytes(64))  # a client that opened with it has seen no nonce
    assert method.keeps_session_nonce  # libmariadb keeps its native scramble across it
    run = method.run(first, b"sig" * 20)
    with pytest.raises(StopIteration) as done:
        next(run)  # no AuthMoreData round trip
    assert done.value.value == Ed25519Signature(first.nonce32, b"sig" * 20)
    assert PLUGINS["ed25519"].wire_for(None) == "client_ed25519"
    assert PLUGINS["ed25519"].wire_for("mysql_clear_password") == "mysql_clear_password"
    assert PLUGINS["ed25519"].wire_for("caching_sha2_password") == "client_ed25519"


def test_only_store_rows_can_ask_for_client_ed25519() -> None:
    validate_wire_method("ed25519", "client_ed25519")
    with pytest.raises(ValueError, match="cannot be checked with client_ed25519"):
        validate_wire_method("authentication_pam", "client_ed25519")


def test_import_sql_translates_mariadbs_ed25519_statements(tmp_path: Path) -> None:
    sql = """
    CREATE USER 'a'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('secret');
    CREATE USER `b`@`%` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY';
    CREATE USER 'c'@'%' IDENTIFIED WITH ed25519 BY 'secret';
    CREATE USER 'd'@'%' IDENTIFIED VIA ed25519 USING 'not-a-key';
    """
    result = import_sql(sql, "maria.sql")
    assert [(a["user"], a["authentication_string"]) for a in result.accounts] == [
        (user, "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY") for user in "abc"
    ]
    assert result.not_translated == [
        "maria.sql:5: 'd'@'%': an ed25519 hash is 43 base64 characters (a 32-byte public key)"
    ]
    path = tmp_path / "accounts.yaml"
    path.write_text(to_yaml(result))
    rows = load_accounts((path,))[0]
    assert [row.plugin for row in rows] == ["ed25519"] * 3
    assert all(stored_hash(r.plugin, r.authentication_string).matches(b"secret") for r in rows)


def test_hash_password_prints_the_value_mariadb_stores() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "hash-password", "--plugin", "ed25519"],
        input=b"secret\n", capture_output=True, check=True,
    )  # fmt: skip
    assert done.stdout.decode() == "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY\n"
