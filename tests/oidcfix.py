"""Keys and tokens for the OpenID Connect tests: signing keys as JWKs (private for the
provider, public for the JWKS), ID tokens signed with them, and the forgeries a verifier
must refuse (alg none, HS256 keyed with the public key, a tampered payload)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from sandbox.oidc import public as public  # re-exported for the tests
from sandbox.oidc import rsa_jwk as sandbox_rsa_jwk

ISSUER = "https://idp.example.test"
AUDIENCE = "mysql-bridge"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_jwk(kid: str, bits: int = 2048) -> dict[str, Any]:
    """A private RSA signing key as a JWK (what oidc-provider takes in its `jwks`)."""
    if bits == 2048:
        return sandbox_rsa_jwk(kid)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def ec_jwk(kid: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


def ed_jwk(kid: str) -> dict[str, Any]:
    key = ed25519.Ed25519PrivateKey.generate()
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"}


def jwks(*keys: dict[str, Any]) -> dict[str, Any]:
    return {"keys": [public(k) for k in keys]}


def claims(sub: str = "alice", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 600}
    return {**base, **extra}


def sign(payload: dict[str, Any], jwk: dict[str, Any], kid: str | None = "default") -> str:
    """An ID token signed with this private JWK; kid 'default' means the key's own."""
    alg = jwk["alg"]
    key = jwt.PyJWK(jwk, algorithm=alg).key
    headers = {} if kid is None else {"kid": jwk["kid"] if kid == "default" else kid}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def unsigned(payload: dict[str, Any], kid: str = "k1", signature: str = "") -> str:
    """alg none; a signature part may be added (Connector/Python refuses an empty one
    before sending, so a forger adds one)."""
    head = b64(json.dumps({"alg": "none", "kid": kid, "typ": "JWT"}).encode())
    return f"{head}.{b64(json.dumps(payload).encode())}.{signature}"


def hs256_with_public_key(payload: dict[str, Any], jwk: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HMAC-SHA256 keyed with the provider's public key
    (PEM), which anyone can download from the JWKS."""
    pem = jwt.PyJWK(public(jwk), algorithm=jwk["alg"]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS256", "kid": jwk["kid"], "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def tampered(token: str, **changes: Any) -> str:
    """The same signature over a payload with some claims changed."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    return f"{head}.{b64(json.dumps(payload).encode())}.{sig}"
