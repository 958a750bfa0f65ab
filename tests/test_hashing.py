"""Stored hashes and scrambles against MySQL's own vectors."""

from typing import Any

import pytest

from bridge.hashing import (
    EmptyHash,
    HashFormatError,
    NativeHash,
    Sha2CryptHash,
    make_native,
    make_sha2,
    parse_native,
    parse_sha2,
)
from bridge.scramble import (
    check_native_token,
    check_sha2_token,
    native_token,
    sha2_digest2,
    sha2_token,
)
from tests.vectors import load


def password_of(text: str) -> bytes:
    return b"a" * 1024 if text == "REPEAT('a',1024)" else text.encode()


@pytest.mark.parametrize("case", load("mysql_native_password_stored_hashes.json"))
def test_native_hash_vectors(case: dict[str, Any]) -> None:
    password = password_of(case["password"])
    stored = parse_native(case["authentication_string"].encode())
    assert stored.matches(password)
    assert not stored.matches(password + b"x")
    if password:
        assert isinstance(stored, NativeHash) and stored.text() == case["authentication_string"]
        assert make_native(password) == stored
    else:
        assert stored == EmptyHash() == make_native(b"")  # MariaDB: PASSWORD('') is ''


@pytest.mark.parametrize("case", load("caching_sha2_password_stored.json")["triples"])
def test_sha2_crypt_vectors(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["authentication_string_hex"])
    stored = parse_sha2(raw)
    assert isinstance(stored, Sha2CryptHash)
    assert stored.iterations == 5 and stored.salt.hex() == case["salt_hex"]
    assert stored.matches(case["password"].encode())
    assert not stored.matches(case["password"].encode()[:-1])
    assert stored.raw() == raw


def test_sha2_iteration_field_is_hex_thousands() -> None:
    stored = make_sha2(b"pw", iterations=0x0C8)
    assert isinstance(stored, Sha2CryptHash)
    assert stored.raw()[:7] == b"$A$0C8$"
    assert parse_sha2(stored.raw()).matches(b"pw")


def test_made_hashes_verify_and_salts_differ() -> None:
    a, b = make_sha2(b"secret"), make_sha2(b"secret")
    assert isinstance(a, Sha2CryptHash) and isinstance(b, Sha2CryptHash)
    assert a.salt != b.salt and a.matches(b"secret") and b.matches(b"secret")
    assert b"$" not in a.salt  # the salt must not end the iteration field early


@pytest.mark.parametrize(
    "text",
    [b"*", b"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1", b"2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19A",
     b"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1EZZ"],
)  # fmt: skip
def test_bad_native_hash(text: bytes) -> None:
    with pytest.raises(HashFormatError):
        parse_native(text)


@pytest.mark.parametrize("raw", [b"$A$005$short", b"$B$005$" + b"x" * 63, b"$A$XYZ$" + b"x" * 63,
                                 b"$A$000$" + b"x" * 63])  # fmt: skip
def test_bad_sha2_hash(raw: bytes) -> None:
    with pytest.raises(HashFormatError):
        parse_sha2(raw)


def test_hash_reprs_hold_no_secret() -> None:
    native = make_native(b"secret")
    sha2 = make_sha2(b"secret")
    assert "14E65567" not in repr(native) and "stage2" not in repr(native)
    assert isinstance(sha2, Sha2CryptHash) and sha2.digest.decode() not in repr(sha2)


@pytest.mark.parametrize("case", load("mysql_native_password_tokens.json"))
def test_native_token_vectors(case: dict[str, Any]) -> None:
    nonce = bytes.fromhex(case["scramble"])
    token = native_token(case["password"].encode(), nonce)
    assert token.hex() == case["expected"]
    stage2 = bytes.fromhex(case["stored_authentication_string"][1:])
    assert check_native_token(token, nonce, stage2)


@pytest.mark.parametrize("case", load("caching_sha2_password_fast_tokens.json"))
def test_sha2_token_vectors(case: dict[str, Any]) -> None:
    nonce = bytes.fromhex(case["nonce"])
    token = sha2_token(case["password"].encode(), nonce)
    assert token.hex() == case["expected"]
    digest2 = bytes.fromhex(case["server_cache_entry_sha256_sha256_pw"])
    assert sha2_digest2(case["password"].encode()) == digest2
    assert check_sha2_token(token, nonce, digest2)


@pytest.mark.parametrize("case", load("caching_sha2_password_fast_digest.json"))
def test_fast_digest_vectors(case: dict[str, Any]) -> None:
    assert sha2_digest2(case["password"].encode()).hex() == case["sha256_sha256"]


@pytest.mark.parametrize("length", [0, 1, 19, 21, 31, 33])
def test_tokens_of_the_wrong_length_fail(length: int) -> None:
    case = load("mysql_native_password_tokens.json")[0]
    nonce, stage2 = (
        bytes.fromhex(case["scramble"]),
        bytes.fromhex(case["stored_authentication_string"][1:]),
    )
    good = bytes.fromhex(case["expected"])
    token = (good * 2)[:length]
    assert not check_native_token(token, nonce, stage2)
    assert not check_sha2_token(token, nonce, sha2_digest2(b"secret"))


def test_2000_random_tokens_never_succeed() -> None:
    # CVE-2012-2122: a truncated memcmp result let 1 in 256 wrong answers through.
    import os

    case = load("mysql_native_password_tokens.json")[0]
    nonce, stage2 = (
        bytes.fromhex(case["scramble"]),
        bytes.fromhex(case["stored_authentication_string"][1:]),
    )
    digest2 = sha2_digest2(b"secret")
    assert not any(check_native_token(os.urandom(20), nonce, stage2) for _ in range(2000))
    assert not any(check_sha2_token(os.urandom(32), nonce, digest2) for _ in range(2000))
