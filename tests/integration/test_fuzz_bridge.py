"""A short round of bench/fuzz.py against a real bridge: mutated handshake responses and
auth answers before login, mutated COM_CHANGE_USER packets after a real one. The bridge
must answer or close every connection in time, log no traceback and stay up."""

from __future__ import annotations

import random

import pytest

from bench.fuzz import FUZZ_SERVER, Stats, fuzz, log_findings, login, rss_of
from sandbox.bridgeproc import Account
from tests.integration.harness import MakeBridge

pytestmark = pytest.mark.integration


def test_fuzzed_packets_before_and_after_login(make_bridge: MakeBridge) -> None:
    accounts = [Account("nat", "nat-pw", "mysql_native_password", upstream_password="up-nat"),
                Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app")]  # fmt: skip
    bridge = make_bridge(accounts=accounts, server=FUZZ_SERVER)
    before = rss_of(bridge.proc.pid)
    seed = random.randrange(1 << 30)
    print(f"fuzz seed: {seed} (python bench/fuzz.py --seed {seed} replays this round)")
    stats = fuzz(bridge.port, packets=3000, seconds=60, seed=seed, processes=1, threads=4)
    assert stats.packets >= 3000 or stats.connections > 300
    assert stats.preauth_packets and stats.change_user_packets
    assert stats.hangs == 0
    assert stats.answers["err_1043"] and stats.answers["err_1045"]  # both paths were reached
    assert log_findings(bridge.log)["tracebacks"] == 0, bridge.log[-3000:]
    assert bridge.proc.poll() is None
    client = login(bridge.port, random.Random(0), Stats())
    assert client is not None  # a real login still works
    client.close()
    assert rss_of(bridge.proc.pid) - before < 48 << 20
