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


def _start_together(start: Any, priv: Path, pub: Path, out: Any) -> None:
    start.wait()
    try:
        out.put(rsa_keys.load_or_generate(priv, pub).public_pem)
    except Exception as exc:  # what the test reports
        out.put(repr(exc))


def test_two_processes_creating_the_same_pair_agree(tmp_path: Path) -> None:
    """Two bridges starting together with the same new rsa paths: both generate, one
    links its files first, the other loads that key (no 'File exists')."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for attempt in range(3):
        directory = tmp_path / str(attempt)
        directory.mkdir()
        priv, pub = directory / "private_key.pem", directory / "public_key.pem"
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_start_together, args=(start, priv, pub, out)) for _ in "ab"]
        for proc in procs:
            proc.start()
        start.set()
        got = [out.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(10)
        assert got[0] == got[1] == pub.read_bytes(), got
        assert rsa_keys.load(priv).public_pem == got[0]
        assert (priv.stat().st_mode & 0o777) == 0o600
        assert sorted(p.name for p in directory.iterdir()) == ["private_key.pem", "public_key.pem"]


def test_a_missing_public_key_is_written_from_the_private_one(tmp_path: Path) -> None:
    priv, pub = tmp_path / "private_key.pem", tmp_path / "public_key.pem"
    pair = rsa_keys.load_or_generate(priv, pub)
    pub.unlink()
    assert rsa_keys.load_or_generate(priv, pub).public_pem == pair.public_pem
    assert pub.read_bytes() == pair.public_pem
