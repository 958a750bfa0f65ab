"""The OpenID Connect backend (bridge/backends/oidc.py) with a fake provider: which token
logs in to which row, and the claims it reads; plus the wire method's packet and the rows'
authentication strings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.backends.base import Peer
from bridge.backends.oidc import OidcBackend
from bridge.config import OidcConfig
from bridge.credentials import ClearPassword, OidcToken
from bridge.errors import BackendUnavailable, Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import AuthStringError, parse_oidc
from bridge.mapping.hosts import client_host
from bridge.oidc.tokens import TokenRefused
from bridge.plugins import PLUGINS, validate_row
from bridge.protocol.codec import lenenc_bytes
from bridge.wire.openid_connect import parse_token_answer
from tests.oidcfix import AUDIENCE, ISSUER, claims, jwks, rsa_jwk, sign

KEY = rsa_jwk("k1")
PEER = Peer(client_host("127.0.0.1", False), "tls")


def backend(**extra: Any) -> OidcBackend:
    config = OidcConfig.model_validate({"providers": [
        {"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": ISSUER + "/jwks",
         **extra},
    ]})  # fmt: skip
    return OidcBackend(config, fetcher=lambda _p: lambda _url: jwks(KEY))


def row(account: str, **auth: str) -> AccountRow:
    text = json.dumps({"identity_provider": "corp", **auth})
    return AccountRow(account, "%", "authentication_openid_connect", text.encode(), "test")


async def login(b: OidcBackend, token: str, user: str, r: AccountRow, via: str = "plugin") -> Any:
    credential = OidcToken(token.encode()) if via == "plugin" else ClearPassword(token.encode())
    return await b.verify(credential, user, r, PEER)


@pytest.mark.parametrize("via", ["plugin", "password"])
async def test_mysql_row_takes_the_named_subject(via: str) -> None:
    b = backend()
    identity = await login(
        b, sign(claims("0b1c-uuid"), KEY), "alice", row("alice", user="0b1c-uuid"), via
    )
    assert (identity.name, identity.source) == ("0b1c-uuid", "oidc")
    with pytest.raises(TokenRefused, match="claim 'sub' is 'someone-else'"):
        await login(
            b, sign(claims("someone-else"), KEY), "alice", row("alice", user="0b1c-uuid"), via
        )


async def test_row_user_is_always_the_subject() -> None:
    """MySQL's "user" is the token's sub, whatever identity_claim says: a person whose
    preferred_username is alice's sub (subjects are not secret) is not alice."""
    b = backend(identity_claim="preferred_username")
    alice = row("alice", user="0b1c-uuid")
    mallory = sign(claims("mallory-uuid", preferred_username="0b1c-uuid"), KEY)
    with pytest.raises(TokenRefused, match="claim 'sub' is 'mallory-uuid'"):
        await login(b, mallory, "alice", alice)
    found = await b.examine(sign(claims("0b1c-uuid", preferred_username="al"), KEY).encode(),
                            "alice", alice)  # fmt: skip
    assert (found.identity_claim, found.identity) == ("sub", "0b1c-uuid")


async def test_without_user_the_claim_is_the_login_name() -> None:
    b = backend(identity_claim="preferred_username", groups_claim="groups")
    token = sign(claims("uuid-1", preferred_username="alice", groups=["dev", "ops"]), KEY)
    identity = await login(b, token, "alice", row(""))
    assert identity.name == "alice" and identity.groups == ("dev", "ops")
    with pytest.raises(TokenRefused, match="the user name the client sent is 'bob'"):
        await login(b, token, "bob", row(""))


@pytest.mark.parametrize("verified", [None, False, "true", 1])
async def test_an_email_counts_only_when_verified(verified: object) -> None:
    """Anyone can type alice's address at self-registration: unverified, it proves nothing."""
    b = backend(identity_claim="email")
    extra = {} if verified is None else {"email_verified": verified}
    token = sign(claims("u1", email="alice@example.test", **extra), KEY)
    with pytest.raises(TokenRefused, match="'email' without 'email_verified': true"):
        await login(b, token, "alice@example.test", row(""))


async def test_findings_say_which_claims() -> None:
    b = backend(identity_claim="email", groups_claim="roles")
    token = sign(claims("u1", email="a@example.test", email_verified=True, roles="dba"), KEY)
    found = await b.examine(token.encode(), "a@example.test", row(""))
    text = "\n".join(found.lines())
    assert "claim 'email' = 'a@example.test'" in text and "groups (claim 'roles'): dba" in text


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"preferred_username": ["a"]}, "claim 'preferred_username' is missing"),
        ({}, "claim 'preferred_username' is missing"),
        ({"preferred_username": "a\nb"}, "control characters"),
        ({"preferred_username": "alice", "groups": {"a": 1}}, "not a list"),
        ({"preferred_username": "alice", "groups": [1]}, "a group in claim"),
    ],
)
async def test_bad_claims(extra: dict[str, Any], reason: str) -> None:
    b = backend(identity_claim="preferred_username", groups_claim="groups")
    # the claims made when the test runs: made at collection, they expired in a long run
    with pytest.raises(TokenRefused, match=reason):
        await login(b, sign(claims("u1", **extra), KEY), "alice", row(""))


@pytest.mark.parametrize("via", ["plugin", "password"])
async def test_never_a_token_from_plain_tcp(via: str) -> None:
    """The session refuses it first (3159); the backend does not rely on that."""
    b, r = backend(), row("alice", user="0b1c-uuid")
    token = sign(claims("0b1c-uuid"), KEY).encode()
    credential = OidcToken(token) if via == "plugin" else ClearPassword(token)
    plain = Peer(client_host("127.0.0.1", False), "tcp")
    with pytest.raises(Denied, match="insecure transport"):
        await b.verify(credential, "alice", r, plain)
    socket = Peer(client_host("127.0.0.1", False), "socket")
    assert (await b.verify(credential, "alice", r, socket)).name == "0b1c-uuid"


def test_oidc_rows_are_secure_only() -> None:
    assert PLUGINS["authentication_openid_connect"].secure_only
    assert not PLUGINS["caching_sha2_password"].secure_only


async def test_empty_token_and_unknown_provider() -> None:
    b = backend()
    with pytest.raises(Denied, match="no token"):
        await login(b, "", "alice", row("alice"))
    other = AccountRow("alice", "%", "authentication_openid_connect",
                       b'{"identity_provider": "nope"}', "test")  # fmt: skip
    with pytest.raises(Denied, match="'nope' is not configured"):
        await login(b, sign(claims("alice"), KEY), "alice", other)


def test_token_answer_packet() -> None:
    token = b"a" * 1500  # tokens are over 1 KB: a 3-byte length
    assert parse_token_answer(b"\x01" + lenenc_bytes(token)) == token
    for bad in (b"", b"\x01", b"\x01\x05abc", b"\x01\x03abcd", b"\x00\x03abc", b"\x01\xfb"):
        with pytest.raises(Denied):
            parse_token_answer(bad)


def test_authentication_strings() -> None:
    parsed = parse_oidc(
        '{"identity_provider": "corp", "user": "u1", "mapping": "dev=developer,a+b=ab"}'
    )
    assert (parsed.provider, parsed.user) == ("corp", "u1")
    assert (
        parsed.rule.account_for(["a", "b"]) == "ab"
        and parsed.rule.account_for(["dev"]) == "developer"
    )
    validate_row("authentication_openid_connect", b'{"identity_provider": "corp"}')
    for bad in ("corp", "[]", '{"user": "x"}', '{"identity_provider": "c", "extra": 1}',
                '{"identity_provider": "c", "user": 5}', '{"identity_provider": "c", "mapping": "a=,"}'):  # fmt: skip
        with pytest.raises((AuthStringError, ValueError)):
            validate_row("authentication_openid_connect", bad.encode())


def test_which_wire_method_a_client_gets() -> None:
    spec = PLUGINS["authentication_openid_connect"]
    assert (
        spec.wire_for("authentication_openid_connect_client")
        == "authentication_openid_connect_client"
    )
    assert spec.wire_for("caching_sha2_password") == "caching_sha2_password"  # token as password
    assert spec.wire_for("mysql_native_password") == "caching_sha2_password"  # mariadb CLI
    # Connector/Python with openid_token_file opens with caching_sha2 and no password
    assert (
        spec.wire_for("caching_sha2_password", answered=False)
        == "authentication_openid_connect_client"
    )
    # and nothing changes for the other plugins
    assert (
        PLUGINS["authentication_pam"].wire_for("caching_sha2_password", answered=False)
        == "caching_sha2_password"
    )


async def test_health_uses_the_cache_and_the_rate_limit() -> None:
    """/healthz calls check(): cached keys are healthy whatever the provider does, and a
    probe never fetches more often than logins may."""
    requests: list[str] = []
    state = {"up": True}

    def fetch(url: str) -> Any:
        requests.append(url)
        if not state["up"]:
            raise OSError("connection refused")
        return jwks(KEY)

    config = OidcConfig.model_validate({"providers": [
        {"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": ISSUER + "/jwks"},
    ]})  # fmt: skip
    b = OidcBackend(config, fetcher=lambda _p: fetch)
    state["up"] = False
    with pytest.raises(BackendUnavailable):
        await b.check()
    with pytest.raises(BackendUnavailable):
        await b.check()  # within the interval: no second request
    assert len(requests) == 1
    with pytest.raises(BackendUnavailable):
        await b.fetch_keys()  # forced: check --online ignores the interval
    assert len(requests) == 2
    state["up"] = True
    notes = await b.fetch_keys()
    assert notes == [f"OpenID provider 'corp': 1 signing key(s) from {ISSUER}/jwks"]
    state["up"] = False
    for _ in range(5):
        await b.check()  # keys cached: healthy, and no request
    assert len(requests) == 3


async def test_health_and_the_key_age_gauge_after_jwks_max_stale() -> None:
    calls = []

    def fetcher(_p: object) -> Any:
        def fetch(url: str) -> Any:
            calls.append(url)
            if len(calls) > 1:
                raise OSError("provider down")
            return jwks(KEY)

        return fetch

    config = OidcConfig.model_validate({"providers": [
        {"name": "corp", "issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": ISSUER + "/jwks"},
    ]})  # fmt: skip
    b = OidcBackend(config, fetcher=fetcher)
    assert b.oldest_keys() == 0.0
    await b.check()  # the first fetch
    keyset = b.keysets["corp"]
    assert keyset.fetched_at is not None and 0 <= b.oldest_keys() < 5
    keyset.fetched_at -= 86400 + 10  # a day without the provider
    keyset.attempted_at = None
    assert b.oldest_keys() > 86400
    with pytest.raises(BackendUnavailable, match="over jwks_max_stale"):
        await b.check()
    with pytest.raises(BackendUnavailable, match="over jwks_max_stale"):
        await login(b, sign(claims("0b1c-uuid"), KEY), "alice", row("alice", user="0b1c-uuid"))
