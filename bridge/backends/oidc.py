"""OpenID Connect (authentication_openid_connect): the client proves who it is with an ID
token from a configured provider, sent by MySQL's authentication_openid_connect_client or
in the password field of any password method (the Azure/RDS way).

The token is verified (bridge/oidc/tokens.py) against the provider's signing keys
(bridge/oidc/keys.py), the groups are the groups claim, and the row decides who may log in:

- `"user": "<value>"` in the row's authentication string: the token's `sub` must be it
  (MySQL's rule: whatever identity_claim says, as MySQL's rows are written with subjects);
- no `"user"`: the configured identity claim must be the user name the client sent, so the
  session's user is the person the token names (anonymous rows map them by groups). An
  `email` identity counts only with `email_verified: true`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.backends.base import Identity, Peer
from bridge.config import OidcConfig, OidcProviderConfig
from bridge.credentials import ClearPassword, Credential, OidcToken
from bridge.errors import BackendUnavailable, Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import AuthStringError, parse_oidc
from bridge.oidc.keys import Fetch, KeySet, https_fetcher
from bridge.oidc.tokens import TokenRefused, read_header, require_pyjwt, verify

MAX_CLAIM = 256  # characters of an identity or group name
MAX_GROUPS = 1000


@dataclass(frozen=True, slots=True)
class TokenFindings:
    """What a verified token said, for the login and for `explain --token-file`."""

    provider: str
    alg: str
    kid: str | None
    subject: str
    identity_claim: str
    identity: str
    groups_claim: str | None
    groups: tuple[str, ...]
    expected: str  # the value the identity claim had to have
    expected_from: str  # where that value came from

    def lines(self) -> list[str]:
        groups = ", ".join(self.groups) if self.groups else "(none)"
        from_claim = f"claim '{self.groups_claim}'" if self.groups_claim else "no groups_claim"
        return [
            f"token: verified by provider '{self.provider}' ({self.alg}, key {self.kid!r}), "
            f"sub {self.subject!r}",
            f"identity: claim '{self.identity_claim}' = {self.identity!r} matches "
            f"{self.expected_from}",
            f"groups ({from_claim}): {groups}",
        ]


def _name(value: Any, what: str) -> str:
    if (not isinstance(value, str) or not value or len(value) > MAX_CLAIM
            or any(ord(ch) < 0x20 or ch == "\x7f" for ch in value)):  # fmt: skip
        raise TokenRefused(f"{what} is missing, not a string, too long or has control characters")
    return value


def _identity(claims: dict[str, Any], claim: str) -> str:
    """The identity claim's value. An address the provider has not verified proves nothing
    (anyone can type one at self-registration): `email` counts only with
    `email_verified: true` (OpenID Connect Core 5.1, 5.7)."""
    value = _name(claims.get(claim), f"claim '{claim}'")
    if claim == "email" and claims.get("email_verified") is not True:
        raise TokenRefused("claim 'email' without 'email_verified': true")
    return value


def _groups(claims: dict[str, Any], claim: str | None) -> tuple[str, ...]:
    if claim is None or claims.get(claim) is None:
        return ()
    value = claims[claim]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or len(values) > MAX_GROUPS:
        raise TokenRefused(f"claim '{claim}' is not a list of names (or over {MAX_GROUPS})")
    return tuple(dict.fromkeys(_name(v, f"a group in claim '{claim}'") for v in values))


class OidcBackend:
    name = "oidc"
    accepts: tuple[type, ...] = (OidcToken, ClearPassword)

    def __init__(
        self,
        config: OidcConfig,
        fetcher: Callable[[OidcProviderConfig], Fetch] = https_fetcher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        require_pyjwt()
        self.config = config
        self.keysets = {p.name: KeySet(p, fetcher(p)) for p in config.providers}
        self.clock = clock

    # --- the backend contract -------------------------------------------------------------

    async def verify(
        self, credential: Credential, user: str, row: AccountRow, peer: Peer
    ) -> Identity:
        if peer.transport == "tcp":  # the session refuses it earlier (3159): never a token
            raise Denied("a token over insecure transport")
        if isinstance(credential, OidcToken):
            token = credential.token
        else:
            assert isinstance(credential, ClearPassword)
            token = credential.password
        found = await self.examine(token, user, row)
        return Identity(found.identity, found.groups, self.name)

    async def examine(self, token: bytes, user: str, row: AccountRow) -> TokenFindings:
        """Verify the token for this row and the user name the client sent."""
        if not token:
            raise Denied("no token (empty password)")
        try:
            wanted = parse_oidc(row.authentication_string.decode("utf-8"))
        except (UnicodeDecodeError, AuthStringError) as exc:
            raise Denied(f"authentication string: {exc}") from None
        keyset = self.keysets.get(wanted.provider)
        if keyset is None:
            raise Denied(f"identity_provider '{wanted.provider}' is not configured")
        provider = keyset.provider
        header = read_header(token, provider)
        jwk = await keyset.key_for(header.kid, header.alg)
        claims = verify(token, header, jwk, provider, self.clock())
        claim = "sub" if wanted.user else provider.identity_claim
        identity = _identity(claims, claim)
        expected, source = self._expected(wanted.user, user, row)
        if not hmac.compare_digest(identity.encode(), expected.encode()):
            raise TokenRefused(f"token's claim '{claim}' is {identity!r}, "
                               f"but {source} is {expected!r}")  # fmt: skip
        return TokenFindings(
            provider.name, header.alg, header.kid, str(claims.get("sub", ""))[:MAX_CLAIM],
            claim, identity, provider.groups_claim,
            _groups(claims, provider.groups_claim), expected, source,
        )  # fmt: skip

    @staticmethod
    def _expected(row_user: str, user: str, row: AccountRow) -> tuple[str, str]:
        if row_user:
            return row_user, f'the row\'s "user" ({row.account})'
        return user, "the user name the client sent"

    async def check(self) -> None:
        """Health (/healthz, the admin status): can tokens be verified? Yes for a provider
        whose keys are cached, even when it cannot be reached right now (within
        jwks_max_stale); otherwise a fetch,
        within the refresh rate limit (a health probe never makes more requests than
        logins may), and BackendUnavailable if it fails."""
        for keyset in self.keysets.values():
            if not keyset.keys or keyset.too_old():
                await keyset.refresh()
                keyset.refuse_if_too_old()

    def oldest_keys(self) -> float:
        """The age in seconds of the oldest provider's cached keys (0 with none): the
        mysql_auth_bridge_oidc_keys_age_seconds gauge, to alert well before jwks_max_stale."""
        return max((age for k in self.keysets.values() if (age := k.age()) is not None),
                   default=0.0)  # fmt: skip

    async def fetch_keys(self) -> list[str]:
        """Fetch every provider's keys now (check --online): a note per provider, or raise
        BackendUnavailable for the first that cannot be reached."""
        notes = []
        for keyset in self.keysets.values():
            keyset.attempted_at = None  # no rate limit for an explicit check
            if not await keyset.refresh():  # it kept older keys: still a failure to report
                raise BackendUnavailable(f"OpenID provider {keyset.provider.name}: keys not "
                                         "fetched (see the log)")  # fmt: skip
            where = keyset.provider.jwks_uri or keyset.jwks_uri
            notes.append(f"OpenID provider '{keyset.provider.name}': {len(keyset.keys)} signing "
                         f"key(s) from {where}")  # fmt: skip
        return notes
