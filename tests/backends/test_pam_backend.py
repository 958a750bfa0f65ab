"""The PAM backend against a real PAM stack (pam_wrapper + pam_matrix), without a client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.backends.base import Peer
from bridge.backends.pam import PamBackend
from bridge.config import PamConfig
from bridge.credentials import ClearPassword, Conversation
from bridge.errors import BackendUnavailable, Denied
from bridge.mapping.accounts import AccountRow
from bridge.mapping.hosts import client_host
from sandbox.pam import PamSandbox

PEER = Peer(client_host("10.0.0.7", True), "tls")


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PamBackend:
    pam = PamSandbox.create(tmp_path, [("alice", "alice-pw", "mysql"), ("bob", "bob-pw", "broken")])
    (tmp_path / "services" / "broken").write_text("auth required /nonexistent/pam_nothing.so\n")
    for key, value in pam.env().items():
        monkeypatch.setenv(key, value)
    return PamBackend(PamConfig(library=pam.library))


def row(auth: str = "") -> AccountRow:
    return AccountRow("", "%", "authentication_pam", auth.encode(), "test")


async def test_good_password(backend: PamBackend) -> None:
    identity = await backend.verify(ClearPassword(b"alice-pw"), "alice", row(), PEER)
    assert (
        identity.name == "alice" and identity.source == "pam" and identity.authenticated_as is None
    )


async def test_wrong_password_and_unknown_user_are_denials(backend: PamBackend) -> None:
    for user, password in (("alice", b"nope"), ("nobody", b"x")):
        with pytest.raises(Denied):
            await backend.verify(ClearPassword(password), user, row(), PEER)


async def test_empty_password_is_never_given_to_pam(backend: PamBackend) -> None:
    with pytest.raises(Denied, match="empty password"):
        await backend.verify(ClearPassword(b""), "alice", row(), PEER)


async def test_a_broken_stack_is_an_outage_not_a_denial(backend: PamBackend) -> None:
    with pytest.raises(BackendUnavailable):
        await backend.verify(ClearPassword(b"bob-pw"), "bob", row("broken"), PEER)


async def test_conversation_asks_the_client(backend: PamBackend) -> None:
    asked: list[bytes] = []

    def ask(packet: bytes, timeout: float) -> bytes:  # called from the PAM worker thread
        asked.append(packet)
        return b"alice-pw\0"

    identity = await backend.verify(Conversation(ask), "alice", row(), PEER)
    assert identity.name == "alice"
    assert asked == [b"\x04Password: "]  # a password question, echo off


async def test_first_password_is_used_once(backend: PamBackend) -> None:
    def ask(packet: bytes, timeout: float) -> bytes:
        raise AssertionError("the first password prompt must not reach the client")

    identity = await backend.verify(Conversation(ask, b"alice-pw"), "alice", row(), PEER)
    assert identity.name == "alice"


def test_service_from_the_row_or_the_config(backend: PamBackend) -> None:
    assert backend.service_for(row("other, g=a")) == "other"
    assert backend.service_for(row("")) == "mysql"
    assert os.environ["PAM_WRAPPER"] == "1"
