"""PAM: authenticate with the host's PAM stack (pam_authenticate, then pam_acct_mgmt), in a
bounded pool of worker threads, with the conversation answered by the password the wire
delivered or, through MariaDB's dialog plugin, by the client itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bridge.backends.base import Identity, Peer
from bridge.backends.libpam import DENIALS, LibPam, Outcome, Prompt
from bridge.backends.osgroups import groups_of
from bridge.config import PamConfig
from bridge.credentials import ClearPassword, Conversation, Credential
from bridge.errors import BackendUnavailable, Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import parse_pam
from bridge.netio import ConnectionClosed

log = logging.getLogger("bridge.backends.pam")

ECHO_ON_QUESTION, PASSWORD_QUESTION = 2, 4  # the dialog plugin's question types
CLIENT_HUNG_UP = "the client hung up"


class PamBackend:
    name = "pam"
    accepts: tuple[type[Credential], ...] = (ClearPassword, Conversation)

    def __init__(self, config: PamConfig) -> None:
        self.config = config
        self.library = LibPam.load(config.library)
        self.pool = ThreadPoolExecutor(config.threads, thread_name_prefix="pam")

    def service_for(self, row: AccountRow) -> str:
        return parse_pam(row.authentication_string.decode()).target or self.config.service

    async def verify(
        self, credential: Credential, user: str, row: AccountRow, peer: Peer
    ) -> Identity:
        loop = asyncio.get_running_loop()
        if isinstance(credential, ClearPassword) and not credential.password:
            raise Denied("empty password: not given to PAM")
        answer, aborted = self._answerer(credential)
        service = self.service_for(row)
        rhost = str(peer.host.ip) if peer.host.ip is not None else "localhost"
        try:
            async with asyncio.timeout(self.config.timeout):
                outcome = await loop.run_in_executor(
                    self.pool, self.library.transaction, service, user, rhost, user, answer
                )
        except TimeoutError as exc:
            raise BackendUnavailable(f"PAM service '{service}' did not answer in time") from exc
        if not outcome.ok:
            await self._deny(outcome, service, user, aborted[0])
        name = outcome.pam_user or user
        groups = await loop.run_in_executor(self.pool, groups_of, name)
        rewritten = name if name != user else None
        return Identity(name, groups, self.name, authenticated_as=rewritten)

    async def lookup(self, user: str, row: AccountRow) -> tuple[str, ...]:
        """The groups mapping would see for `user`, without a password (explain)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, groups_of, user)

    async def _deny(self, outcome: Outcome, service: str, user: str, aborted: str | None) -> None:
        detail = f"PAM {outcome.stage} for '{user}' (service '{service}'): {outcome.reason}"
        if aborted == CLIENT_HUNG_UP:  # the client's doing: neither a denial nor an outage
            raise ConnectionClosed(f"{CLIENT_HUNG_UP} during the PAM conversation")
        if aborted:  # the bridge could not answer a prompt: a denial, whatever PAM calls it
            detail = f"{detail} ({aborted})"
        elif outcome.code not in DENIALS:
            raise BackendUnavailable(detail)
        if outcome.fail_delay_us:  # PAM's failure delay, served without holding a thread
            await asyncio.sleep(min(outcome.fail_delay_us, 10_000_000) / 1e6)
        raise Denied(detail)

    def _answerer(
        self, credential: Credential
    ) -> tuple[Callable[[Prompt], bytes | None], list[str | None]]:
        """What answers PAM's prompts (called in the PAM thread), and a cell that says why
        the conversation was aborted, if it was."""
        first_password = (
            credential.password
            if isinstance(credential, ClearPassword)
            else credential.first_password
            if isinstance(credential, Conversation)
            else None
        )
        used = [False]
        aborted: list[str | None] = [None]
        timeout = self.config.timeout

        def answer(prompt: Prompt) -> bytes | None:
            if prompt.secret and first_password and not used[0]:
                used[0] = True
                return first_password
            if not isinstance(credential, Conversation):
                # No channel back to the client: a stack with more prompts needs `dialog`.
                aborted[0] = f"no way to ask the client {prompt.text.strip()!r}"
                return None
            kind = PASSWORD_QUESTION if prompt.secret else ECHO_ON_QUESTION
            packet = bytes([kind]) + prompt.text.encode("utf-8")
            try:
                reply = credential.ask(packet, timeout).rstrip(b"\0")
            except ConnectionError:  # e.g. a client that cannot speak dialog hung up
                aborted[0] = CLIENT_HUNG_UP
                return None
            if prompt.secret and not reply:
                aborted[0] = "the client answered a password prompt with nothing"
                return None
            return reply

        return answer, aborted
