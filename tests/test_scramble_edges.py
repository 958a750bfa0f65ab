"""Edges of the challenge-response arithmetic: empty passwords, nonces longer than 20 bytes
(servers send the scramble with a trailing NUL), and XOR of unequal lengths."""

from __future__ import annotations

import pytest

from bridge.scramble import (
    _xor,
    check_native_token,
    check_sha2_token,
    native_stage2,
    native_token,
    sha2_digest2,
    sha2_token,
    xor_with_scramble,
)

NONCE = bytes(range(1, 21))


def test_an_empty_password_answers_with_no_bytes() -> None:
    assert native_token(b"", NONCE) == b""
    assert sha2_token(b"", NONCE) == b""


def test_native_uses_the_first_20_bytes_of_the_nonce() -> None:
    token = native_token(b"secret", NONCE)
    assert native_token(b"secret", NONCE + b"\0") == token
    assert check_native_token(token, NONCE + b"\0", native_stage2(b"secret"))
    assert check_native_token(token, NONCE + b"x", native_stage2(b"secret"))
    assert not check_native_token(token, NONCE[:19] + b"x", native_stage2(b"secret"))


def test_sha2_token_checks_against_the_digest() -> None:
    token = sha2_token(b"secret", NONCE)
    assert len(token) == 32 and check_sha2_token(token, NONCE, sha2_digest2(b"secret"))
    assert not check_sha2_token(token, NONCE, sha2_digest2(b"Secret"))


def test_xor_of_unequal_lengths_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        _xor(b"a", b"ab")
    assert str(caught.value) == "XOR of unequal lengths"
    assert _xor(b"\x0f\xf0", b"\xff\xff") == b"\xf0\x0f"
    assert _xor(b"\x00\x01", b"\x00\x00") == b"\x00\x01"  # leading zero bytes are kept


def test_rsa_plaintext_repeats_the_nonce() -> None:
    assert xor_with_scramble(b"\x01\x02\x03", b"\x01\x01") == b"\x00\x03\x02"
    assert xor_with_scramble(b"", NONCE) == b""
