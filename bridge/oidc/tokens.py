"""ID token verification, pure: no I/O, the time passed in.

Two steps, because the key depends on the header: `read_header()` checks the token's shape,
size and algorithm before any key is looked up; `verify()` checks the signature against one
key of the provider's JWKS, then iss, aud and the times. Every refusal is a TokenRefused
(a Denied) whose reason names what was wrong, never the token.

The JOSE library is PyJWT (docs/oidc.md says why). It is given one key, bound to the one
algorithm the header names, and that algorithm must be on the provider's allow-list of
asymmetric algorithms and match the key's type: "none" and the HMAC algorithms never get
that far, so a token signed with HS256 using the provider's public key as the secret is
refused before any key is touched.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import exceptions as jwt_errors

from bridge.config import JWS_ALGORITHMS, ConfigError, OidcProviderConfig
from bridge.errors import Denied

ID_TOKEN_TYPES = ("JWT", "APPLICATION/JWT")  # an ID token's typ, when it has one
MAX_HEADER_BYTES = 2048  # a JOSE header is a few dozen bytes; more is not an ID token
_COMPACT = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")  # fullmatch; none: no sig
# The key type (and curves) each algorithm family may use.
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
EDDSA_CURVES = ("Ed25519", "Ed448")


# PyJWT 2.13 is the first that binds a PyJWK to its one algorithm whatever the header says
# (GHSA-jq35-7prp-9v3f) and, by the security review, honours enforce_minimum_key_length
# (older releases ignore unknown options silently); 2.10.0 matched "iss" as a substring
# (CVE-2024-53861). pyproject.toml requires it; this
# check stops a bridge that was installed beside an older one (a distribution's package).
MIN_PYJWT = (2, 13)


def require_pyjwt(version: str = jwt.__version__) -> None:
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if found < MIN_PYJWT:
        wanted = ".".join(map(str, MIN_PYJWT))
        raise ConfigError(f"backends.oidc: PyJWT {version} is too old to verify ID tokens "
                          f"safely: install PyJWT {wanted} or later")  # fmt: skip


class TokenRefused(Denied):
    """The token does not prove anything: malformed, wrong key, wrong claims."""


@dataclass(frozen=True, slots=True)
class Header:
    alg: str
    kid: str | None


def _b64json(part: bytes, what: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise TokenRefused(f"malformed token: the {what} is not base64url JSON") from exc


def read_header(token: bytes, provider: OidcProviderConfig) -> Header:
    """The header of a compact JWS, checked: size, shape, an allowed algorithm, no 'crit'."""
    if len(token) > provider.max_token_bytes:
        raise TokenRefused(f"token of {len(token)} bytes: over max_token_bytes "
                           f"({provider.max_token_bytes})")  # fmt: skip
    if not _COMPACT.fullmatch(token):  # not match(): '$' would take a trailing newline
        raise TokenRefused("not a JWT (three base64url parts separated by dots)")
    head = token.split(b".", 1)[0]
    if len(head) > MAX_HEADER_BYTES:
        raise TokenRefused("malformed token: header too long")
    header = _b64json(head, "header")
    if not isinstance(header, dict):
        raise TokenRefused("malformed token: the header is not a JSON object")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in provider.algorithms or alg not in JWS_ALGORITHMS:
        allowed = ", ".join(provider.algorithms)
        raise TokenRefused(f"algorithm {str(alg)[:20]!r} is not allowed (allowed: {allowed})")
    if "crit" in header:
        raise TokenRefused("token with critical header extensions ('crit'): not understood")
    if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
        raise TokenRefused("malformed token: 'kid' is not a short string")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() not in ID_TOKEN_TYPES):
        # an access token (RFC 9068 "at+jwt"), a logout token...: not an ID token
        raise TokenRefused(f"not an ID token (typ {str(typ)[:40]!r})")
    return Header(alg, kid)


def key_fits(jwk: dict[str, Any], alg: str) -> bool:
    """May this JWK verify a signature made with `alg`? Its type (and curve) must be the
    algorithm's, its own 'alg' (if it names one) the same, and its use signatures."""
    kty = KEY_TYPES[alg[:2]]
    if jwk.get("kty") != kty or jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        return False
    if alg in CURVES:
        return bool(jwk.get("crv") == CURVES[alg])
    if alg == "EdDSA":
        return jwk.get("crv") in EDDSA_CURVES
    return True


_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.InvalidSignatureError, "bad signature"),
    (jwt_errors.InvalidAudienceError, "wrong audience"),
    (jwt_errors.InvalidIssuerError, "wrong issuer"),
    (jwt_errors.MissingRequiredClaimError, "a required claim is missing"),
    (jwt_errors.InvalidKeyError, "the provider's key cannot verify this algorithm"),
    (jwt_errors.InvalidAlgorithmError, "algorithm does not match the key"),
    (jwt_errors.DecodeError, "malformed token"),
)


def _reason(exc: jwt_errors.PyJWTError) -> str:
    for kind, text in _REASONS:
        if isinstance(exc, kind):
            return f"{text} ({exc})" if kind is not jwt_errors.InvalidSignatureError else text
    return f"token refused ({type(exc).__name__})"


def _shown(value: Any) -> str:
    """A claim's value for the log: short (a client id, an issuer URL), never a token."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:200] + "..."


def _which(token: bytes, exc: jwt_errors.PyJWTError, provider: OidcProviderConfig) -> str:
    """A wrong audience or issuer, with what the (signed) token says and what the provider
    takes: the DBA sees at once a token of another application, or a tenant mix-up."""
    try:
        claims = _b64json(token.split(b".")[1], "payload")
    except TokenRefused:
        return _reason(exc)
    if not isinstance(claims, dict):
        return _reason(exc)
    if isinstance(exc, jwt_errors.InvalidAudienceError):
        return (f"wrong audience: the token is for {_shown(claims.get('aud'))}, the provider "
                f"takes {_shown(provider.audience)} (a token of another application?)")  # fmt: skip
    return (f"wrong issuer: the token is from {_shown(claims.get('iss'))}, the provider is "
            f"{_shown(provider.issuer)}")  # fmt: skip


def verify(
    token: bytes, header: Header, jwk: dict[str, Any], provider: OidcProviderConfig, now: float
) -> dict[str, Any]:
    """The token's claims, once its signature, issuer, audience and times check out."""
    if not key_fits(jwk, header.alg):
        raise TokenRefused(f"key {header.kid!r} is not a {header.alg} signing key")
    try:
        key = jwt.PyJWK(jwk, algorithm=header.alg)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[header.alg],
            audience=provider.audience,
            issuer=provider.issuer,
            options={"require": ["iss", "aud", "exp", "iat"], "verify_exp": False,
                     "verify_nbf": False, "verify_iat": False,
                     "enforce_minimum_key_length": True},
        )  # fmt: skip
    except (jwt_errors.InvalidAudienceError, jwt_errors.InvalidIssuerError) as exc:
        raise TokenRefused(_which(token, exc, provider)) from None  # the signature checked out
    except jwt_errors.PyJWTError as exc:
        raise TokenRefused(_reason(exc)) from None
    check_times(claims, provider, now)
    check_azp(claims, provider)
    return claims


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    try:
        number = float(value) if isinstance(value, int | float) else math.nan
    except OverflowError:  # an integer of 400 digits
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):  # NaN, Infinity, 1e400 too
        raise TokenRefused(f"malformed token: '{name}' is not a finite number")
    return number


def check_times(claims: dict[str, Any], provider: OidcProviderConfig, now: float) -> None:
    """exp, nbf and iat, each with the provider's clock skew; iat no older than
    max_token_age when that is set."""
    skew = provider.clock_skew
    exp, nbf, iat = (_number(claims, n) for n in ("exp", "nbf", "iat"))
    if exp is not None and now > exp + skew:
        raise TokenRefused(f"token expired {now - exp:.0f} s ago")
    if nbf is not None and now < nbf - skew:
        raise TokenRefused(f"token not valid for another {nbf - now:.0f} s (nbf)")
    if iat is not None and now < iat - skew:
        raise TokenRefused(f"token issued {iat - now:.0f} s in the future (iat)")
    age_limit = provider.max_token_age
    if iat is not None and age_limit is not None and now - iat > age_limit + skew:
        raise TokenRefused(f"token issued {now - iat:.0f} s ago: over max_token_age")


def check_azp(claims: dict[str, Any], provider: OidcProviderConfig) -> None:
    """The authorized party (OpenID Connect Core 3.1.3.7), if named, must be this client;
    with several audiences it must be named: a token another client obtained for itself
    that merely lists this one among its audiences does not log in."""
    azp, aud = claims.get("azp"), claims.get("aud")
    if azp is None and isinstance(aud, list) and len(aud) > 1:
        raise TokenRefused("token for several audiences without 'azp'")
    if azp is not None and azp != provider.audience:
        raise TokenRefused(f"token issued to another party (azp {str(azp)[:64]!r})")
