from pathlib import Path
from typing import Any

import pytest

from bridge import rsa_keys
from bridge.errors import Denied
from bridge.scramble import xor_with_scramble
from bridge.upstream.client_auth import rsa_encrypt
from tests.vectors import DATA, load

CASES = load("rsa_full_auth.json")


@pytest.fixture(scope="module")
def boost_pair() -> rsa_keys.RsaKeyPair:
    return rsa_keys.load(DATA / "boost_csha2p_private_key_2048.pem")


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_plaintext_rule(case: dict[str, Any]) -> None:
    nonce = bytes.fromhex(case["scramble"])
    plain = xor_with_scramble(case["password"].encode() + b"\0", nonce)
    assert plain.hex() == case["expected_plaintext_after_rsa_decrypt"]


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_encrypt_decrypt_with_the_published_pair(
    boost_pair: rsa_keys.RsaKeyPair, case: dict[str, Any]
) -> None:
    nonce = bytes.fromhex(case["scramble"])
    public = (DATA / "boost_csha2p_public_key_2048.pem").read_bytes()
    assert boost_pair.public_pem.split() == public.split()
    ciphertext = rsa_encrypt(case["password"].encode(), nonce, public)
    plain = boost_pair.decrypt(ciphertext)
    assert plain.hex() == case["expected_plaintext_after_rsa_decrypt"]


def test_bad_ciphertexts_are_denials(boost_pair: rsa_keys.RsaKeyPair) -> None:
    for bad in (b"", b"\x00" * 255, b"\x01" * 256, b"\xff" * 257):
        with pytest.raises(Denied):
            boost_pair.decrypt(bad)


def test_generated_pair_is_saved_private(tmp_path: Path) -> None:
    priv, pub = tmp_path / "private_key.pem", tmp_path / "public_key.pem"
    pair = rsa_keys.load_or_generate(priv, pub)
    assert (priv.stat().st_mode & 0o777) == 0o600
    assert pub.read_bytes() == pair.public_pem
    assert rsa_keys.load_or_generate(priv, pub).public_pem == pair.public_pem
    assert "PRIVATE" not in repr(pair)
