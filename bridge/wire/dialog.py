"""MariaDB's `dialog` plugin: the server sends questions (a type byte and a prompt: 2 echo
on, 4 password; +1 for the last one), the client answers each. The backend drives it: this
method hands it the channel (the session's AuthExchange, which the backend asks from its
worker thread; the first question rides in the AuthSwitchRequest when the client has to
switch). The answers are clear text: TLS or a Unix socket only."""

from __future__ import annotations

from bridge.credentials import Conversation, Credential
from bridge.wire.base import (
    ClearTextMethod,
    WireContext,
    WireRun,
    register,
    strip_nul,
)


@register
class Dialog(ClearTextMethod):
    name = "dialog"
    proves = (Conversation,)
    switch_on_first_send = True  # the first question travels in the AuthSwitchRequest

    def run(self, ctx: WireContext, first: bytes) -> WireRun:
        yield from ()
        self.check_transport(ctx)
        assert ctx.ask is not None, "the session provides the dialog channel"
        # A client that opened with `dialog` may have sent its password already (one-shot).
        credential: Credential = Conversation(ctx.ask, strip_nul(first) or None)
        return credential
