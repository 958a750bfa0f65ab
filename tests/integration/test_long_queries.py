"""Long queries the bridge holds as possible KILLs (they start with whitespace, a comment or
'k'): only their first 4 KiB decide, and the rest streams through, so several clients'
48 MiB queries leave the bridge's memory as it was, and their results are right. A long
one the bridge refuses is read and dropped as it comes. Real MariaDB, max_allowed_packet
raised, PyMySQL."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from sandbox.mariadb import MariaDB
from tests.integration.harness import Bridge, MakeBridge, closing, connect, error_of, scalar
from tests.integration.test_hardening import rss

pytestmark = pytest.mark.integration
MiB = 1 << 20
BIG = 48 * MiB
CLIENTS = 4


@pytest.fixture
def big_packets(mariadb: MariaDB) -> Iterator[None]:
    """max_allowed_packet 128 MiB for connections made from now on."""
    before = mariadb.sql("SELECT @@global.max_allowed_packet").strip()
    mariadb.sql(f"SET GLOBAL max_allowed_packet = {128 * MiB}")
    yield
    mariadb.sql(f"SET GLOBAL max_allowed_packet = {before}")


class PeakRss:
    """The bridge's largest resident set while the block runs (sampled every 5 ms)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge, self.peak, self._done = bridge, rss(bridge), threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss(self.bridge))
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(10)


def run_in_threads(work: list[Any]) -> list[Any]:
    outcome: list[Any] = [None] * len(work)

    def run(i: int) -> None:
        try:
            outcome[i] = work[i]()
        except Exception as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcome


def big_client(bridge: Bridge) -> Any:
    return connect("pymysql", bridge, "nat", "nat-pw", "tcp", max_allowed_packet=128 * MiB)


def test_several_long_whitespace_led_queries_stream_through(
    make_bridge: MakeBridge, big_packets: None
) -> None:
    bridge = make_bridge()
    texts = [(bytes([65 + i]) * 1021 + b"z") * (BIG // 1022) for i in range(CLIENTS)]

    def query(text: bytes) -> Any:
        def run() -> tuple[int, str]:
            with closing(big_client(bridge)) as conn:
                cur = conn.cursor()
                cur.execute(b" \n SELECT LENGTH('" + text + b"'), MD5('" + text + b"')")
                row = cur.fetchone()
                assert scalar(conn, "SELECT 1") == 1  # the next command is a command again
                return int(row[0]), str(row[1])

        return run

    with closing(big_client(bridge)):  # warm: the first login's one-off allocations
        pass
    with PeakRss(bridge) as watched:
        before = rss(bridge)
        results = run_in_threads([query(t) for t in texts])
    for text, result in zip(texts, results, strict=True):
        assert result == (len(text), hashlib.md5(text).hexdigest()), result  # noqa: S324
    grown = watched.peak - before
    print(f"bridge RSS {before / MiB:.0f} MiB, peak {watched.peak / MiB:.0f} MiB")
    assert grown < 16 * MiB, f"RSS grew by {grown / MiB:.0f} MiB for {CLIENTS} x 48 MiB"


def test_a_long_query_the_bridge_refuses_is_dropped_as_it_comes(
    make_bridge: MakeBridge, big_packets: None
) -> None:
    """Over 4 KiB and starting with KILL (or a first 4 KiB of only whitespace): 1235 after
    the whole query has been read, its 48 MiB never held, and the session goes on."""
    bridge = make_bridge()
    with closing(big_client(bridge)) as conn, PeakRss(bridge) as watched:
        before = rss(bridge)
        for sql in (b"KILL 1 /* " + b"x" * BIG + b" */", b" " * (BIG // 2) + b"SELECT 1"):
            with pytest.raises(pymysql.err.MySQLError) as caught:
                conn.cursor().execute(sql)
            assert error_of(caught.value)[0] == 1235
            assert scalar(conn, "SELECT 2") == 2
    assert watched.peak - before < 16 * MiB, f"RSS grew by {(watched.peak - before) / MiB:.0f} MiB"


def test_a_long_query_over_the_upstreams_limit_gets_the_upstreams_answer(
    make_bridge: MakeBridge, mariadb: MariaDB
) -> None:
    """Streamed on, a held query meets the upstream's own max_allowed_packet (16 MiB here)
    rather than the bridge's 1 GiB: the upstream's 1153, as a direct client gets it."""
    bridge = make_bridge()
    limit = int(mariadb.sql("SELECT @@global.max_allowed_packet").strip())
    with closing(big_client(bridge)) as conn:
        with pytest.raises(pymysql.err.MySQLError) as caught:
            conn.cursor().execute(" SELECT '" + "y" * (limit + MiB) + "'")
        assert error_of(caught.value)[0] in (1153, 2013), caught.value
