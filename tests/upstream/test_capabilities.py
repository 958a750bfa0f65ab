"""Which capability bits cross the bridge: query attributes (MySQL 8.0.23+) on neither leg,
since a COM_QUERY with them hides its SQL (and any KILL in it) behind a parameter block."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bridge.protocol.constants import Capability as C
from bridge.runtime import build_runtime
from bridge.server import BridgeServer
from bridge.upstream.login import upstream_capabilities
from tests.test_reload import write_files

MYSQL_8 = (
    C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_PLUGIN_AUTH
    | C.CLIENT_DEPRECATE_EOF | C.CLIENT_SESSION_TRACK | C.CLIENT_QUERY_ATTRIBUTES
    | C.CLIENT_MULTI_RESULTS | C.CLIENT_TRANSACTIONS
)  # fmt: skip


def test_query_attributes_are_not_asked_of_the_upstream() -> None:
    caps = upstream_capabilities(MYSQL_8, MYSQL_8, None)
    assert not caps & C.CLIENT_QUERY_ATTRIBUTES
    assert caps & C.CLIENT_DEPRECATE_EOF and caps & C.CLIENT_SESSION_TRACK  # the rest passes


async def test_query_attributes_are_not_offered_to_clients(tmp_path: Path) -> None:
    server = BridgeServer(build_runtime(write_files(tmp_path, 3)))
    server.learn_profile(replace(server.profile, capabilities=MYSQL_8))
    for tls in (False, True):
        caps = server.client_capabilities(tls)
        assert not caps & C.CLIENT_QUERY_ATTRIBUTES
        assert caps & C.CLIENT_DEPRECATE_EOF
