"""sha256_password: the password in clear over a secure transport, else RSA (key on 01)."""

from __future__ import annotations

from bridge.credentials import ClearPassword, Credential
from bridge.wire.base import WireContext, WireMethodBase, WireRun, is_empty_answer, register
from bridge.wire.full_auth import password_from

REQUEST_PUBLIC_KEY = b"\x01"


@register
class Sha256Password(WireMethodBase):
    name = "sha256_password"
    answers_greeting = True
    proves = (ClearPassword,)

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        if is_empty_answer(first):
            credential: Credential = ClearPassword(b"")
            return credential
        return (yield from password_from(ctx, first, REQUEST_PUBLIC_KEY))
