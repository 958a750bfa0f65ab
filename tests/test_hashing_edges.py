"""Edges of the stored-hash formats, and a round trip of what `hash-password` writes through
an accounts file back to a hash that verifies."""

from __future__ import annotations

import hashlib

import pytest

from bridge.config import AccountEntry
from bridge.hashing import (
    DEFAULT_ITERATIONS,
    SALT_LENGTH,
    EmptyHash,
    HashFormatError,
    NativeHash,
    Sha2CryptHash,
    fast_auth_digest,
    make_native,
    make_sha2,
    parse_native,
    parse_sha2,
    sha256_crypt,
    to_text,
)
from bridge.scramble import native_stage2

SALT = b"0123456789abcdefghij"
DIGEST = b"D" * 43


def sha2_raw(field: bytes, salt: bytes = SALT, digest: bytes = DIGEST) -> bytes:
    return b"$A$" + field + b"$" + salt + digest


def test_default_is_mysqls_5000_rounds() -> None:
    assert DEFAULT_ITERATIONS == 5
    stored = make_sha2(b"pw")
    assert isinstance(stored, Sha2CryptHash) and stored.iterations == 5
    assert stored.raw()[:7] == b"$A$005$"
    assert stored.digest == sha256_crypt(b"pw", stored.salt, 5000)
    assert len(stored.salt) == SALT_LENGTH == 20 and len(stored.digest) == 43


@pytest.mark.parametrize(
    ("field", "iterations"),
    [(b"001", 1), (b"005", 5), (b"00A", 10), (b"00a", 10), (b"100", 0x100), (b"FFF", 0xFFF)],
)
def test_iteration_field_is_three_hex_digits(field: bytes, iterations: int) -> None:
    stored = parse_sha2(sha2_raw(field))
    assert isinstance(stored, Sha2CryptHash)
    assert (stored.iterations, stored.salt, stored.digest) == (iterations, SALT, DIGEST)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (sha2_raw(b"000"), "the iteration field of a '$A$' hash must be at least 001"),
        (sha2_raw(b"-01"), "the iteration field of a '$A$' hash must be at least 001"),
        (sha2_raw(b"0G5"), "the iteration field of a '$A$' hash is 3 hex digits"),
        (sha2_raw(b"5\0\0"), "the iteration field of a '$A$' hash is 3 hex digits"),
        (sha2_raw(b"\xff05"[:3]), "the iteration field of a '$A$' hash is 3 hex digits"),
    ],
)
def test_bad_iteration_fields_say_so(raw: bytes, message: str) -> None:
    with pytest.raises(HashFormatError) as caught:
        parse_sha2(raw)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "raw",
    [
        sha2_raw(b"005")[:-1],  # one byte short
        sha2_raw(b"005") + b"x",  # one byte long
        b"$a$005$" + SALT + DIGEST,  # the format letter is upper case
        b"$A$005:" + SALT + DIGEST,  # '$' after the iteration field
        b"A$005$$" + SALT + DIGEST,
        b"$A$0005" + SALT + DIGEST[:-1],  # four digits: no '$' at offset 6
    ],
)
def test_sha2_layout_is_exact(raw: bytes) -> None:
    with pytest.raises(HashFormatError) as caught:
        parse_sha2(raw)
    assert (
        str(caught.value)
        == "a caching_sha2_password hash is '$A$NNN$' + 20 salt bytes + 43 characters"
    )


def test_a_salt_may_hold_any_byte() -> None:
    salt = bytes(range(0x24, 0x24 + 20))  # begins with '$'
    stored = parse_sha2(sha2_raw(b"005", salt))
    assert isinstance(stored, Sha2CryptHash) and stored.salt == salt


@pytest.mark.parametrize(
    ("text", "stage2"),
    [
        (b"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", "2470c0c06dee42fd1618bb99005adca2ec9d1e19"),
        (b"*2470c0c06dee42fd1618bb99005adca2ec9d1e19", "2470c0c06dee42fd1618bb99005adca2ec9d1e19"),
    ],
)
def test_native_hash_is_case_blind_and_prints_upper(text: bytes, stage2: str) -> None:
    stored = parse_native(text)
    assert isinstance(stored, NativeHash) and stored.stage2.hex() == stage2
    assert stored.text() == "*" + stage2.upper()


@pytest.mark.parametrize("bad", [b"x" + b"0" * 40, b"*" + b"0" * 39 + b"\xff", b"*" + b"0" * 39])
def test_native_layout_is_exact(bad: bytes) -> None:
    with pytest.raises(HashFormatError) as caught:
        parse_native(bad)
    assert str(caught.value) == "a mysql_native_password hash is '*' and 40 hex digits"


def test_empty_strings_are_passwordless_accounts() -> None:
    assert parse_native(b"") == EmptyHash() == parse_sha2(b"")
    assert make_native(b"") == EmptyHash() == make_sha2(b"")
    assert EmptyHash().matches(b"") and not EmptyHash().matches(b"x")
    assert to_text(EmptyHash()) == ""


def test_a_hash_never_matches_the_empty_password() -> None:
    stored = Sha2CryptHash(5, SALT, sha256_crypt(b"", SALT, 5000))
    assert not stored.matches(b"")  # even a digest made from '' (an empty password is EmptyHash)
    assert not NativeHash(native_stage2(b"")).matches(b"")


def auth_bytes(text: str) -> bytes:
    """What an accounts file entry with this authentication_string hands the bridge."""
    return AccountEntry(user="u", plugin="x", authentication_string=text).auth_bytes()


@pytest.mark.parametrize("password", [b"secret", b"p\xc3\xa4ss w0rd", b"a" * 300, b"x"])
def test_hash_password_output_round_trips(password: bytes) -> None:
    for make, parse in ((make_native, parse_native), (make_sha2, parse_sha2)):
        stored = make(password)
        text = to_text(stored)
        assert text.isascii() and text.isprintable() and "'" not in text
        again = parse(auth_bytes(text))
        assert again == stored
        assert again.matches(password) and not again.matches(password + b"x")


def test_to_text_writes_hex_when_a_byte_is_not_printable() -> None:
    for salt, printable in [(SALT, True), (b"'" + SALT[1:], False), (b'"' + SALT[1:], False),
                            (b"\\" + SALT[1:], False), (b" " + SALT[1:], False),
                            (b"\x7f" + SALT[1:], False), (b"!" + SALT[1:], True),
                            (b"~" + SALT[1:], True), (b"X" + SALT[1:], True)]:  # fmt: skip
        stored = Sha2CryptHash(5, salt, DIGEST)
        text = to_text(stored)
        assert text.startswith("0x") is not printable, salt
        if not printable:
            assert text == "0x" + stored.raw().hex().upper()
        assert parse_sha2(auth_bytes(text)) == stored


def made_sha2(password: bytes) -> Sha2CryptHash:
    made = make_sha2(password, iterations=1)
    assert isinstance(made, Sha2CryptHash)  # a password was given
    return made


def test_made_salts_avoid_characters_that_need_quoting() -> None:
    salts = b"".join(made_sha2(b"pw").salt for _ in range(200))
    assert not set(salts) & set(b"$'\"\\ \x7f") and all(0x20 < b < 0x7F for b in salts)
    assert len(set(salts)) > 40  # drawn from the whole alphabet


def test_fast_auth_digest_is_sha256_twice() -> None:
    assert fast_auth_digest(b"pw") == hashlib.sha256(hashlib.sha256(b"pw").digest()).digest()


@pytest.mark.parametrize(
    ("password", "salt", "rounds", "expected"),
    [
        # the SHA-256 vectors of Drepper's SHA-crypt specification (rounds 5000 and 10000)
        (b"Hello world!", b"saltstring", 5000, b"5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
        (b"Hello world!", b"saltstringsaltstring"[:16], 10000,
         b"3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"),
        (b"This is just a test", b"toolongsaltstrin", 5000, b"Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"),
    ],
)  # fmt: skip
def test_sha256_crypt_drepper_vectors(
    password: bytes, salt: bytes, rounds: int, expected: bytes
) -> None:
    assert sha256_crypt(password, salt, rounds) == expected
