import asyncio
import threading
import time

import pytest

from bridge.backends import peer
from bridge.backends.base import Peer
from bridge.backends.peer import parse_socket_rule
from bridge.credentials import PeerCredentials
from bridge.errors import BackendUnavailable
from bridge.mapping.accounts import AccountRow
from bridge.mapping.auth_string import AuthStringError, GroupMapping
from bridge.mapping.hosts import ClientHost
from bridge.plugins import validate_wire_method


def test_socket_rule() -> None:
    rule = parse_socket_rule("stephanie, tom, @dba=developer, @ops=operator")
    assert rule.target == "stephanie,tom"
    assert rule.mappings == (
        GroupMapping(("dba",), "developer"),
        GroupMapping(("ops",), "operator"),
    )
    assert parse_socket_rule("").target == ""


@pytest.mark.parametrize("bad", ["a b", "x=y", "@dba", "a,,b", "@=x", "'quoted'"])
def test_bad_socket_rules(bad: str) -> None:
    with pytest.raises(AuthStringError):
        parse_socket_rule(bad)


@pytest.mark.parametrize(
    ("plugin", "method", "ok"),
    [("authentication_pam", "dialog", True), ("authentication_pam", "caching_sha2_password", True),
     ("authentication_pam", "mysql_native_password", False), ("caching_sha2_password", "dialog", False),
     ("mysql_native_password", "mysql_clear_password", True), ("auth_socket", "dialog", False),
     ("authentication_pam", "nope", False)],
)  # fmt: skip
def test_pinned_wire_methods(plugin: str, method: str, ok: bool) -> None:
    if ok:
        validate_wire_method(plugin, method)
    else:
        with pytest.raises(ValueError):
            validate_wire_method(plugin, method)


async def test_hung_nss_lookups_stay_on_the_peer_backends_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection: every passwd lookup hangs (a directory behind NSS that does not
    answer). More auth_socket logins than the backend has threads: the event loop's own
    threads, which the store's hashing uses, stay free; each hung login is an outage after
    LOOKUP_TIMEOUT, never a wait without end."""
    release = threading.Event()
    monkeypatch.setattr(peer, "user_name", lambda uid: release.wait(30) and None)
    monkeypatch.setattr(peer, "LOOKUP_TIMEOUT", 0.5)
    backend = peer.PeerBackend()
    row = AccountRow("", "%", "auth_socket", b"", "test")
    local = Peer(ClientHost("localhost", None), "socket")
    logins = [asyncio.ensure_future(backend.verify(PeerCredentials(1000 + i), "u", row, local))
              for i in range(peer.LOOKUP_THREADS * 2)]  # fmt: skip
    try:
        await asyncio.sleep(0.1)
        started = time.monotonic()
        assert await asyncio.to_thread(lambda: "free") == "free"  # the default executor
        assert time.monotonic() - started < 0.3
        outcomes = await asyncio.gather(*logins, return_exceptions=True)
        assert all(isinstance(o, BackendUnavailable) for o in outcomes), outcomes
        assert "(NSS) did not answer in 0.5 s" in str(outcomes[0])
    finally:
        release.set()
        backend.pool.shutdown(wait=True)
