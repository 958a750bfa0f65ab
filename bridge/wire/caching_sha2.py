"""caching_sha2_password: fast auth from the digest cache (01 03), else full auth (01 04)."""

from __future__ import annotations

from bridge.credentials import ClearPassword, Credential, Sha2Scramble
from bridge.wire.base import (
    RECEIVE,
    Send,
    WireContext,
    WireMethodBase,
    WireRun,
    is_empty_answer,
    register,
)
from bridge.wire.full_auth import password_from

FAST_AUTH_SUCCESS = b"\x03"
PERFORM_FULL_AUTHENTICATION = b"\x04"
REQUEST_PUBLIC_KEY = b"\x02"


@register
class CachingSha2Password(WireMethodBase):
    name = "caching_sha2_password"
    answers_greeting = True
    proves = (Sha2Scramble, ClearPassword)

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        credential: Credential
        if is_empty_answer(first):
            credential = ClearPassword(b"")  # the client has an empty password
            return credential
        if ctx.fast_auth(first):
            yield Send(FAST_AUTH_SUCCESS)
            credential = Sha2Scramble(ctx.nonce, first, ctx.fast_digest)
            return credential
        yield Send(PERFORM_FULL_AUTHENTICATION)
        reply = yield RECEIVE
        return (yield from password_from(ctx, reply, REQUEST_PUBLIC_KEY))
