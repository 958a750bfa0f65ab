"""ID token verification, pure (bridge/oidc/tokens.py): what passes, and every forgery and
mistake refused with its reason."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from bridge.config import ConfigError, OidcProviderConfig
from bridge.oidc.tokens import TokenRefused, key_fits, read_header, require_pyjwt, verify
from tests.oidcfix import (
    AUDIENCE,
    ISSUER,
    claims,
    ec_jwk,
    ed_jwk,
    hs256_with_public_key,
    public,
    rsa_jwk,
    sign,
    tampered,
    unsigned,
)

RSA = rsa_jwk("r1")
EC = ec_jwk("e1")
ED = ed_jwk("o1")


def provider(**extra: Any) -> OidcProviderConfig:
    return OidcProviderConfig.model_validate(
        {"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, **extra}
    )


def check(
    token: str, jwk: dict[str, Any], now: float | None = None, **extra: Any
) -> dict[str, Any]:
    p = provider(**extra)
    header = read_header(token.encode(), p)
    return verify(token.encode(), header, public(jwk), p, time.time() if now is None else now)


@pytest.mark.parametrize("jwk", [RSA, EC, ED], ids=["RS256", "ES256", "EdDSA"])
def test_a_good_token_gives_its_claims(jwk: dict[str, Any]) -> None:
    got = check(sign(claims("alice", groups=["dev"]), jwk), jwk)
    assert got["sub"] == "alice" and got["groups"] == ["dev"]


def test_header_names_alg_and_kid() -> None:
    header = read_header(sign(claims(), RSA).encode(), provider())
    assert (header.alg, header.kid) == ("RS256", "r1")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (unsigned(claims()), "algorithm 'none' is not allowed"),
        (hs256_with_public_key(claims(), RSA), "algorithm 'HS256' is not allowed"),
        ("a.b", "not a JWT"),
        ("a.b.c.d", "not a JWT"),
        ("aaa.bbb.c+c", "not a JWT"),
        ("e30.e30.", "algorithm .None. is not allowed"),  # no alg, no signature
        ("bm90anNvbg.e30.c2ln", "not base64url JSON"),  # header 'notjson'
        ("WzFd.e30.c2ln", "not a JSON object"),  # header [1]
    ],
)
def test_refused_before_any_key(token: str, reason: str) -> None:
    with pytest.raises(TokenRefused, match=reason):
        read_header(token.encode(), provider())


def test_the_allow_list_is_the_providers() -> None:
    with pytest.raises(TokenRefused, match="'ES256' is not allowed"):
        read_header(sign(claims(), EC).encode(), provider(algorithms=["RS256"]))


def test_size_limit() -> None:
    token = sign(claims(padding="x" * 20000), RSA)
    with pytest.raises(TokenRefused, match="over max_token_bytes"):
        read_header(token.encode(), provider())
    assert read_header(token.encode(), provider(max_token_bytes=65536)).alg == "RS256"


def test_crit_headers_are_refused() -> None:
    token = sign(claims(), RSA)
    import jwt

    forged = jwt.encode(claims(), jwt.PyJWK(RSA).key, algorithm="RS256",
                        headers={"kid": "r1", "crit": ["exp"], "exp": 1})  # fmt: skip
    assert read_header(token.encode(), provider()).kid == "r1"
    with pytest.raises(TokenRefused, match="crit"):
        read_header(forged.encode(), provider())


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda: sign(claims(aud="other-app"), RSA),
            'wrong audience: the token is for "other-app", ',
        ),
        (
            lambda: sign(claims(aud=["a", "b"]), RSA),
            r'wrong audience: the token is for \["a", "b"\]',
        ),
        (
            lambda: sign(claims(iss="https://evil.example.test"), RSA),
            'wrong issuer: the token is from "https://evil.example.test", the provider is "',
        ),
        (lambda: tampered(sign(claims("alice"), RSA), sub="root"), "bad signature"),
        (lambda: sign(claims(), rsa_jwk("r1")), "bad signature"),  # same kid, another key
        (lambda: sign({k: v for k, v in claims().items() if k != "exp"}, RSA), "required claim"),
        (lambda: sign(claims(azp="another-client"), RSA), "another party"),
        (lambda: sign(claims(aud=[AUDIENCE, "other-app"]), RSA), "several audiences without 'azp'"),
        (lambda: sign(claims(aud=[AUDIENCE, "x"], azp="x"), RSA), "another party"),
    ],
)
def test_refused_by_verification(make: Callable[[], str], reason: str) -> None:
    # made when the test runs (made at collection, their exp and iat aged in a long run)
    with pytest.raises(TokenRefused, match=reason):
        check(make(), RSA)


def test_a_key_of_another_type_never_verifies() -> None:
    token = sign(claims(), RSA)
    with pytest.raises(TokenRefused, match="not a RS256 signing key"):
        check(token, {**EC, "kid": "r1"})
    assert not key_fits(public(RSA), "ES256")
    assert not key_fits({**public(RSA), "use": "enc"}, "RS256")
    assert not key_fits(public(EC), "ES384")  # P-256 only signs ES256
    assert key_fits({k: v for k, v in public(RSA).items() if k != "alg"}, "PS256")
    assert not key_fits(public(RSA), "PS256")  # the key says RS256


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_small_rsa_keys_are_refused() -> None:
    small = rsa_jwk("r1", bits=1024)
    with pytest.raises(TokenRefused):
        check(sign(claims(), small), small)


def test_times_with_skew() -> None:
    now = float(int(time.time()))
    token = sign(claims(iat=int(now) - 100, exp=int(now) - 30), RSA)
    assert check(token, RSA, now=now, clock_skew=60)["sub"] == "alice"
    with pytest.raises(TokenRefused, match="expired 30 s ago"):
        check(token, RSA, now=now, clock_skew=10)
    future = sign(claims(iat=int(now) + 120, exp=int(now) + 600), RSA)
    with pytest.raises(TokenRefused, match="in the future"):
        check(future, RSA, now=now)
    early = sign(claims(nbf=int(now) + 120), RSA)
    with pytest.raises(TokenRefused, match="nbf"):
        check(early, RSA, now=now)
    old = sign(claims(iat=int(now) - 4000, exp=int(now) + 600), RSA)
    assert check(old, RSA, now=now)["sub"] == "alice"
    with pytest.raises(TokenRefused, match="max_token_age"):
        check(old, RSA, now=now, max_token_age=3600)


def test_times_must_be_numbers() -> None:
    with pytest.raises(TokenRefused):
        check(sign(claims(exp="tomorrow"), RSA), RSA)
    with pytest.raises(TokenRefused, match="not a finite number"):
        check(sign(claims(nbf=True), RSA), RSA)


def test_reasons_never_hold_the_token() -> None:
    token = tampered(sign(claims(), RSA), sub="root")
    with pytest.raises(TokenRefused) as caught:
        check(token, RSA)
    assert token.split(".")[2] not in str(caught.value)


def test_pyjwt_before_2_13_is_refused() -> None:
    """Older releases ignore enforce_minimum_key_length and do not bind a JWK to one
    algorithm; 2.10.0 matched iss as a substring (CVE-2024-53861)."""
    for old in ("2.10.1", "2.12.1", "1.7.1"):
        with pytest.raises(ConfigError, match=f"PyJWT {old} is too old"):
            require_pyjwt(old)
    for fine in ("2.13.0", "2.15.1", "3.0.0a1"):
        require_pyjwt(fine)
    require_pyjwt()  # the one installed


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 10**400, "1700000000", True],
    ids=["NaN", "Infinity", "-Infinity", "400-digits", "string", "true"],
)
def test_times_must_be_finite_numbers(name: str, value: object) -> None:
    """NaN compares false with everything (a token that never expires), Infinity is
    "never", a 400-digit integer overflows a float: all refused as malformed."""
    token = sign(claims("alice", **{name: value}), RSA)
    with pytest.raises(TokenRefused, match=f"'{name}' is not a finite number"):
        check(token, RSA)


def typed(typ: str | None) -> str:
    key = jwt.PyJWK(RSA, algorithm="RS256").key
    return jwt.encode(claims("alice"), key, algorithm="RS256", headers={"kid": "r1", "typ": typ})


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "logout+jwt", "JWS"])
def test_only_id_tokens(typ: str) -> None:
    """An access token (RFC 9068) or a logout token is not an ID token, whoever signed it."""
    with pytest.raises(TokenRefused, match="not an ID token"):
        check(typed(typ), RSA)


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "application/jwt"])
def test_id_token_types(typ: str | None) -> None:
    assert check(typed(typ), RSA)["sub"] == "alice"


def test_one_audience_with_azp_is_fine() -> None:
    token = sign(claims(aud=[AUDIENCE, "other-app"], azp=AUDIENCE), RSA)
    assert check(token, RSA)["azp"] == AUDIENCE


@pytest.mark.parametrize("tail", [b"\n", b"\r\n", b" ", b"\x00"])
def test_nothing_after_the_signature(tail: bytes) -> None:
    """A token pasted with its file's newline is not a JWT (rather than a confusing
    "Invalid crypto padding" from the signature's base64)."""
    with pytest.raises(TokenRefused, match="not a JWT"):
        read_header(sign(claims(), RSA).encode() + tail, provider())
