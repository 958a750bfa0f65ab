"""Shared state in a real redis-server (issue 14): two bridges behind a real HAProxy with the
PROXY protocol, real clients (PyMySQL, mysqlclient, the mariadb CLI), one MariaDB.

- failed logins spread over both bridges reach the lock at the configured count;
- a full caching_sha2 login on bridge A, then fast auth on bridge B;
- KILL QUERY through B interrupts a query of a session on A;
- redis-server stopped mid-run: logins go on, a known lock still holds, then all recovers;
- a reader of the Redis keys cannot log in with what they hold."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pymysql._auth
import pytest
import redis

from bridge.scramble import native_token, sha2_token
from bridge.state.engine import MAX_BACKOFF
from bridge.state.registry import HEARTBEAT, SLOT_BITS
from sandbox.bridgeproc import BridgeProcess, run_bridge, write_config
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import free_port, port_open, wait_until
from sandbox.redis import RedisServer
from tests.integration.harness import ACCOUNTS, closing, connect, error_of, mariadb_cli, scalar
from tests.integration.rawclient import Raw
from tests.integration.test_haproxy import UP, Front, haproxy_config, wait_states
from tests.integration.test_kill import running_sleeps, sleep_in_thread

pytestmark = pytest.mark.integration
LOCK_AFTER = 4


@pytest.fixture
def redis_here(tmp_path: Path) -> Iterator[RedisServer]:
    """Our own redis-server: some tests stop and restart it."""
    server = RedisServer.start(tmp_path / "redis")
    yield server
    server.stop()


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "fast-auth.key"
    if not path.exists():
        path.write_bytes(os.urandom(32))
        path.chmod(0o600)
    return path


def state_section(tmp_path: Path, server: RedisServer, **extra: Any) -> dict[str, Any]:
    return {"backend": "redis", "url": server.url, "fast_auth_key_file": str(key_file(tmp_path)),
            "command_timeout": 0.3, "connect_timeout": 0.3, **extra}  # fmt: skip


def two_bridges(make_bridge: Any, tmp_path: Path, server: RedisServer, proxied: bool = False,
                **state: Any) -> list[Any]:  # fmt: skip
    """Two bridges sharing `server`; `proxied`: behind HAProxy (which connects from
    127.0.0.1 with a PROXY header), so direct clients come from 127.0.0.3."""
    protection = {"failed_login_attempts": LOCK_AFTER, "lock_time": 120, "lock_by": "account"}
    listen = {"proxy_protocol_from": ["127.0.0.1/32"]} if proxied else {}
    bridges = [
        make_bridge(metrics={"listen": f"127.0.0.1:{free_port()}"}, listen=listen,
                    state=state_section(tmp_path, server, **state), protection=protection)
        for _ in range(2)
    ]  # fmt: skip
    same_accounts(bridges)
    return bridges


def same_accounts(bridges: list[BridgeProcess]) -> None:
    """The same account file everywhere, as in production (each bridge was written with
    its own salts, and a cached digest is bound to the row's stored hash)."""
    text = (bridges[0].directory / "accounts.yaml").read_text()
    for bridge in bridges[1:]:
        (bridge.directory / "accounts.yaml").write_text(text)
        assert bridge.reload()


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(bridges: list[BridgeProcess]) -> Front:
        port, stats = free_port(), tmp_path / "haproxy-stats.sock"
        pairs = [(b.port, _metrics_port(b)) for b in bridges]
        (tmp_path / "haproxy.cfg").write_text(haproxy_config(port, pairs, stats))
        procs.append(subprocess.Popen(["haproxy", "-f", str(tmp_path / "haproxy.cfg")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        wait_until(lambda: port_open(port) and stats.exists(), 10, "haproxy")
        front = Front(port, bridges[0], stats)
        # the first health checks have passed
        wait_states(front, {f"bridge{i}": UP for i in range(1, len(bridges) + 1)})
        return front

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait()


def _metrics_port(bridge: BridgeProcess) -> int:
    import yaml

    listen = yaml.safe_load(bridge.config.read_text())["metrics"]["listen"]
    return int(listen.rsplit(":", 1)[1])


def wait_registered(server: RedisServer, *bridge_ids: int,
                    prefix: str = "mysql-auth-bridge:") -> None:  # fmt: skip
    """Registrations reach Redis in batches (FLUSH_DELAY after the login, later on a busy
    machine): wait until each session's entry is there, where another bridge finds it."""
    client = redis.Redis(port=server.port)

    def there() -> bool:
        return all(client.hexists(f"{prefix}sessions:{i >> SLOT_BITS}", str(i)) for i in bridge_ids)

    try:
        wait_until(there, 10, f"the registry entries of {bridge_ids}")
    finally:
        client.close()


def wrong_login(front: Any, user: str) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as caught:
        connect("pymysql", front, user, "not-the-password", "tls", bind_address="127.0.0.2")
    return error_of(caught.value)


def test_failed_logins_over_both_bridges_lock_at_the_configured_count(
    make_bridge: Any, tmp_path: Path, redis_here: RedisServer, haproxy: Any
) -> None:
    bridges = two_bridges(make_bridge, tmp_path, redis_here, proxied=True)
    front = haproxy(bridges)
    for _ in range(LOCK_AFTER - 1):
        assert wrong_login(front, "app")[0] == 1045
    direct = {"bind_address": "127.0.0.3"}
    with closing(connect("pymysql", bridges[0], "nat", "nat-pw", "tls", **direct)):
        pass  # another account is not locked
    assert wrong_login(front, "app")[0] == 1045  # the LOCK_AFTER-th failure: now locked
    assert all("access denied" in b.log for b in bridges), "HAProxy used one bridge only"
    for bridge in bridges:  # the right password, on either bridge: locked
        with pytest.raises(pymysql.err.MySQLError) as caught:
            connect("pymysql", bridge, "app", "app-pw", "tls", **direct)
        errno, message = error_of(caught.value)
        assert errno == 3955 and f"due to {LOCK_AFTER} consecutive failed logins" in message
    refused = mariadb_cli(front, "app", "app-pw")  # the CLI too, through HAProxy
    assert refused.returncode == 1 and "ERROR 3955" in refused.stderr


def fast_auth_on_the_wire(bridge: BridgeProcess, user: str, password: str) -> bytes:
    """A caching_sha2 scramble over plain TCP: b'\\x01\\x03' is fast_auth_success, b'\\x01\\x04'
    asks for a full authentication."""
    raw = Raw.connect(bridge.port)
    greeting = raw.greeting()
    raw.hello(user, sha2_token(password.encode(), greeting.scramble), "caching_sha2_password")
    answer = raw.read()[1]
    raw.close()
    return answer


def _no_rsa(*_: Any) -> bytes:
    raise AssertionError("the client was asked for a full authentication")


def test_fast_auth_on_b_after_a_full_login_on_a(
    make_bridge: Any, tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_bridges(make_bridge, tmp_path, redis_server)
    assert fast_auth_on_the_wire(b, "fresh", "fresh-pw") == b"\x01\x04"  # nothing cached yet
    with closing(connect("pymysql", a, "fresh", "fresh-pw", "tls")) as conn:  # full, over TLS
        assert scalar(conn, "SELECT CURRENT_USER()") == "fresh@%"
    assert fast_auth_on_the_wire(b, "fresh", "fresh-pw") == b"\x01\x03"
    # a real client on B over plain TCP with its RSA path taken away: only fast auth works
    with monkeypatch.context() as patched:
        patched.setattr(pymysql._auth, "sha2_rsa_encrypt", _no_rsa)
        with closing(connect("pymysql", b, "fresh", "fresh-pw", "tcp")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "fresh@%"
        with pytest.raises(AssertionError, match="full authentication"):
            connect("pymysql", b, "app", "app-pw", "tcp")  # not cached: it would need RSA
    assert fast_auth_on_the_wire(b, "fresh", "wrong-pw") == b"\x01\x04"


def test_kill_query_through_b_interrupts_a_session_on_a(
    make_bridge: Any, tmp_path: Path, redis_server: RedisServer, mariadb: MariaDB
) -> None:
    a, b = two_bridges(make_bridge, tmp_path, redis_server)
    before = set(running_sleeps(mariadb))
    with closing(connect("pymysql", a, "app", "app-pw", "tls")) as victim:
        assert victim.thread_id() >= 1 << 20  # an id in A's instance slot
        thread, outcome = sleep_in_thread(victim)
        wait_until(lambda: bool(set(running_sleeps(mariadb)) - before), 10, "the SLEEP upstream")
        wait_registered(redis_server, victim.thread_id())
        with closing(connect("mysqlclient", b, "app", "app-pw", "tls")) as killer:
            assert killer.thread_id() >> 20 != victim.thread_id() >> 20  # another slot
            started = time.perf_counter()  # the KILL, not the killer's login, is timed
            killer.cursor().execute(f"KILL QUERY {victim.thread_id()}")
        thread.join(10)
        assert time.perf_counter() - started < 1.0  # of the SLEEP's 30 s
        assert isinstance(outcome[0], pymysql.err.MySQLError)
        assert error_of(outcome[0])[0] == 1317  # Query execution was interrupted
        assert scalar(victim, "SELECT 7") == 7
    assert "KILL QUERY" in b.log and "KILL QUERY" not in a.log


def test_redis_stopped_mid_run_then_back(
    make_bridge: Any, tmp_path: Path, redis_here: RedisServer
) -> None:
    a, b = two_bridges(make_bridge, tmp_path, redis_here)
    for bridge in (a, b, a, b):  # locked, and both bridges have seen the lock
        with pytest.raises(pymysql.err.MySQLError):
            connect("pymysql", bridge, "sha", "wrong", "tls")
    for bridge in (a, b):
        with pytest.raises(pymysql.err.MySQLError) as caught:
            connect("pymysql", bridge, "sha", "sha-pw", "tls")
        assert error_of(caught.value)[0] == 3955
    redis_here.stop()
    for bridge in (a, b):  # logins go on: full authentication; the known lock still holds
        started = time.perf_counter()
        assert mariadb_cli(bridge, "app", "app-pw").stdout.strip() == "app@%"
        with closing(connect("pymysql", bridge, "nat", "nat-pw", "tcp")) as conn:
            assert scalar(conn, "SELECT CURRENT_USER()") == "nat@%"
        assert time.perf_counter() - started < 5
        with pytest.raises(pymysql.err.MySQLError) as caught:
            connect("pymysql", bridge, "sha", "sha-pw", "tls")
        assert error_of(caught.value)[0] == 3955
    a.wait_log("state engine")
    assert "unavailable" in a.log
    redis_here.start_again()  # empty, as a restart without persistence
    # A asks again when its backoff (up to MAX_BACKOFF after the failures above) has
    # passed, at the next heartbeat: until then its logins do not write to Redis
    back = HEARTBEAT + MAX_BACKOFF + 5
    a.wait_log("answers again", timeout=back)
    with closing(connect("pymysql", a, "fresh", "fresh-pw", "tls")):  # full on A: cached in Redis
        pass
    wait_until(  # B asks again at its first login after its own backoff
        lambda: fast_auth_on_the_wire(b, "fresh", "fresh-pw") == b"\x01\x03", back, "fast auth"
    )
    for _ in range(LOCK_AFTER):  # shared counting again
        with pytest.raises(pymysql.err.MySQLError):
            connect("pymysql", a if _ % 2 else b, "nat", "wrong", "tls")
    with pytest.raises(pymysql.err.MySQLError) as caught:
        connect("pymysql", a, "nat", "nat-pw", "tls")
    assert error_of(caught.value)[0] == 3955


def test_a_bridge_started_while_redis_is_down(
    make_bridge: Any, tmp_path: Path, mariadb: MariaDB
) -> None:
    """It starts, says so, serves logins (ids in slot 0), and claims a slot once Redis is up."""
    server = RedisServer(tmp_path / "redis", free_port())
    (tmp_path / "redis").mkdir()
    bridge = make_bridge(state=state_section(tmp_path, server))
    assert "not reachable at start" in bridge.log
    with closing(connect("pymysql", bridge, "app", "app-pw", "tls")) as conn:
        assert conn.thread_id() < 1 << 20
        assert scalar(conn, "SELECT CURRENT_USER()") == "app@%"
    server.start_again()
    try:
        # The next heartbeat after the engine's backoff ends claims the slot.
        wait = HEARTBEAT + MAX_BACKOFF + 10
        try:
            bridge.wait_log("instance slot", timeout=wait)
        except TimeoutError as exc:
            redis_log = (tmp_path / "redis" / "redis.log").read_text(errors="replace")
            raise AssertionError(f"{exc}\nredis.log:\n{redis_log[-3000:]}") from None
        with closing(connect("pymysql", bridge, "app", "app-pw", "tls")) as conn:
            assert conn.thread_id() >= 1 << 20
    finally:
        server.stop()


def test_a_reader_of_the_keys_cannot_log_in_with_them(
    make_bridge: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    a, _ = two_bridges(make_bridge, tmp_path, redis_server, key_prefix="reader:")
    with closing(connect("pymysql", a, "fresh", "fresh-pw", "tls")):
        pass
    client = redis.Redis(port=redis_server.port)
    (name,) = client.keys("reader:fa:*")
    stored = client.get(name)
    assert isinstance(name, bytes) and isinstance(stored, bytes)
    assert b"fresh" not in name + stored
    # What a reader holds, tried as the SHA256(password) a fast-auth answer is made of.
    for guess in (stored, stored[12:44], stored[-32:]):
        raw = Raw.connect(a.port)
        greeting = raw.greeting()
        raw.hello("fresh", _token_from(guess, greeting.scramble), "caching_sha2_password")
        assert raw.read()[1] == b"\x01\x04"  # no fast auth: a full authentication
        raw.close()
    # A bridge with the reader's own key file (the same Redis, another key): no fast auth.
    other = tmp_path / "other"
    other.mkdir()
    stranger = make_bridge(state=state_section(other, redis_server, key_prefix="reader:"))
    assert fast_auth_on_the_wire(stranger, "fresh", "fresh-pw") == b"\x01\x04"
    client.close()


def _token_from(secret: bytes, nonce: bytes) -> bytes:
    """A fast-auth answer built from `secret` taken as SHA256(password)."""
    stage1 = (secret * 2)[:32]
    stage2 = hashlib.sha256(stage1).digest()
    mask = hashlib.sha256(hashlib.sha256(stage2).digest() + nonce).digest()
    return bytes(x ^ y for x, y in zip(stage1, mask, strict=True))


def wrong_password_on_worker(port: int, want_other_than: int | None) -> int:
    """One wrong mysql_native_password login, on a worker whose slot is not
    `want_other_than` (connections that land elsewhere are closed before they send a
    thing); the slot it landed on."""
    for _ in range(200):
        raw = Raw.connect(port)
        greeting = raw.greeting()
        slot = greeting.connection_id >> 20
        if slot == want_other_than:
            raw.close()
            continue
        raw.hello("nat", native_token(b"wrong", greeting.scramble), "mysql_native_password")
        assert raw.read()[1][:3] == b"\xff\x15\x04"  # ERR 1045
        raw.close()
        return slot
    raise AssertionError("the kernel never spread the connections over both workers")


def test_workers_share_the_lock_and_the_kill_registry(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, redis_server: RedisServer
) -> None:
    """--workers 2 with redis state: failures alternating between the workers lock at the
    configured count; a KILL that lands on the other worker finds its session."""
    port = free_port()
    write_config(tmp_path, port, mariadb.port, certs, ACCOUNTS, None, server={"connect_timeout": 5},
                 state=state_section(tmp_path, redis_server, key_prefix="workers:"),
                 protection={"failed_login_attempts": LOCK_AFTER, "lock_by": "account"})  # fmt: skip
    bridge = run_bridge(tmp_path, port, certs, None, ("--workers", "2"))
    try:
        wait_until(lambda: bridge.log_now.count("instance slot") == 2, 10, "both workers' slots")
        last = None
        for _ in range(LOCK_AFTER):
            last = wrong_password_on_worker(port, last)
        for _ in range(4):  # the right password, whichever worker: locked
            with pytest.raises(pymysql.err.MySQLError) as caught:
                connect("pymysql", bridge, "nat", "nat-pw", "tcp")
            assert error_of(caught.value)[0] == 3955
        crossed = 0
        for _ in range(40):
            victim = connect("pymysql", bridge, "app", "app-pw", "tcp")
            killer = connect("pymysql", bridge, "app", "app-pw", "tcp")
            with closing(killer), closing(victim):
                if victim.thread_id() >> 20 == killer.thread_id() >> 20:
                    continue
                wait_registered(redis_server, victim.thread_id(), prefix="workers:")
                killer.cursor().execute(f"KILL CONNECTION {victim.thread_id()}")
                with pytest.raises(pymysql.err.OperationalError):
                    scalar(victim, "SELECT 1")
                crossed += 1
            if crossed == 2:
                break
        assert crossed == 2, "the kernel never spread the connections over both workers"
    finally:
        bridge.stop()


def test_unlock_through_one_bridge_frees_the_account_on_the_other(
    make_bridge: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    from tests.integration.test_admin import admin

    protection = {"failed_login_attempts": 2, "lock_time": 600, "lock_by": "account_and_address"}
    a, b = (
        make_bridge(admin={"listen": f"unix:{tmp_path}/admin-{name}.sock"}, protection=protection,
                    state=state_section(tmp_path, redis_server, key_prefix="unlock:"))
        for name in ("a", "b")
    )  # fmt: skip
    for _ in range(2):
        assert mariadb_cli(a, "nat", "wrong").returncode != 0
    assert "ERROR 3955" in mariadb_cli(b, "nat", "nat-pw").stderr  # locked for both
    done = admin(b, "unlock", "nat@127.0.0.1")
    assert done.returncode == 0 and "1 failure record(s) forgotten" in done.stdout, done.stdout
    assert mariadb_cli(a, "nat", "nat-pw").stdout.strip() == "nat@%"


def test_check_online_pings_every_state_url(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, redis_server: RedisServer
) -> None:
    from tests.integration.test_check_online import check_online

    dead = f"redis://127.0.0.1:{free_port()}/0"
    state = state_section(tmp_path, redis_server, urls=[dead])
    config = write_config(tmp_path / "conf", free_port(), mariadb.port, certs, ACCOUNTS[:1],
                          state=state)  # fmt: skip
    done = check_online(config)
    assert f"ok: state engine {redis_server.url} answers" in done.stdout
    # the cause in words, once, not an exception class (nor a log line besides the error)
    assert done.returncode == 1
    assert f"error: state.url: state engine {dead}: connection refused\n" in done.stderr
    assert "ConnectionError" not in done.stderr and "WARNING" not in done.stderr


def test_check_online_names_a_refused_redis_password(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet
) -> None:
    from tests.integration.test_check_online import check_online

    server = RedisServer.start(tmp_path / "redis", password="the-redis-pw")
    try:
        secret = tmp_path / "redis.secret"
        secret.write_text("not-the-redis-pw\n")
        secret.chmod(0o600)
        wrong = state_section(tmp_path, server, password_file=str(secret))
        config = write_config(tmp_path / "wrong", free_port(), mariadb.port, certs,
                              ACCOUNTS[:1], state=wrong)  # fmt: skip
        done = check_online(config)
        assert done.returncode == 1, done.stdout
        assert (f"error: state.url: state engine {server.url}: authentication refused: wrong "
                "state.username or state.password_file") in done.stderr  # fmt: skip
        assert "not-the-redis-pw" not in done.stdout + done.stderr
        config = write_config(tmp_path / "none", free_port(), mariadb.port, certs,
                              ACCOUNTS[:1], state=state_section(tmp_path, server))  # fmt: skip
        done = check_online(config)
        assert (f"error: state.url: state engine {server.url}: the server wants a password: "
                "set state.password_file") in done.stderr  # fmt: skip
        secret.write_text("the-redis-pw\n")
        done = check_online(tmp_path / "wrong" / "bridge.yaml")
        assert done.returncode == 0 and f"ok: state engine {server.url} answers" in done.stdout
    finally:
        server.stop()


def test_healthz_and_status_report_the_state_engine(
    make_bridge: Any, tmp_path: Path, redis_here: RedisServer
) -> None:
    """Redis is what every bridge shares, as a directory is: /healthz (monitoring) says
    when it is down, with the cause, and `status` exits 2; /readyz (load balancers) does
    not take the bridge out for it."""
    from tests.integration.test_admin import admin
    from tests.integration.test_metrics import scrape

    metrics = free_port()
    bridge = make_bridge(metrics={"listen": f"127.0.0.1:{metrics}"},
                         admin={"listen": f"unix:{tmp_path}/admin.sock"},
                         state=state_section(tmp_path, redis_here))  # fmt: skip
    code, body = scrape(metrics, "/healthz")
    assert code == 200 and json.loads(body)["state"] == "ok", body
    assert "state: ok" in admin(bridge, "status").stdout
    redis_here.stop()
    # an answer is shared for a second (bridge/probes.py): the next one sees Redis gone
    wait_until(lambda: scrape(metrics, "/healthz")[0] == 503, 10, "/healthz 503")
    code, body = scrape(metrics, "/healthz")
    assert code == 503, body
    report = json.loads(body)
    assert report["status"] == "degraded"
    assert re.fullmatch(rf"unavailable: state engine {redis_here.url}: (connection refused|the "
                        r"server closed the connection)(; not asked again until .*)?",
                        report["state"]), report  # fmt: skip
    assert scrape(metrics, "/readyz")[0] == 200
    done = admin(bridge, "status")
    assert done.returncode == 2 and f"state: unavailable: state engine {redis_here.url}: " in (
        done.stdout
    )
    redis_here.start_again()
    wait_until(lambda: scrape(metrics, "/healthz")[0] == 200, 15, "healthy again")


def test_admin_kill_of_a_session_another_bridge_holds_says_where_it_is(
    make_bridge: Any, tmp_path: Path, redis_server: RedisServer
) -> None:
    from tests.integration.test_admin import admin

    a, b = (
        make_bridge(admin={"listen": f"unix:{tmp_path}/admin-{name}.sock"},
                    state=state_section(tmp_path, redis_server, key_prefix="adminkill:"))
        for name in ("a", "b")
    )  # fmt: skip
    with closing(connect("pymysql", a, "nat", "nat-pw", "tls")) as conn:
        held = conn.thread_id()
        # the entry is written within 20 ms of the login
        wait_until(lambda: "holds it" in _kill(admin, b, held), 5, "the registry entry")
        done = admin(b, "kill", str(held))
        assert done.returncode == 1
        assert (f"no session {held} on this bridge: another bridge sharing the state engine "
                f"holds it (instance slot {held >> 20}); end it through that bridge's admin "
                f"interface, or with `KILL {held}` from a client of any bridge") in done.stderr  # fmt: skip
        assert scalar(conn, "SELECT 1") == 1  # untouched
    done = admin(b, "kill", "12345")
    assert done.returncode == 1 and "no session 12345" in done.stderr
    assert "another bridge" not in done.stderr


def _kill(admin: Any, bridge: BridgeProcess, session: int) -> str:
    return str(admin(bridge, "kill", str(session)).stderr)


def test_a_bridge_with_another_key_file_is_reported_by_every_bridge(
    make_bridge: Any, tmp_path: Path, redis_here: RedisServer
) -> None:
    """Same Redis and key_prefix, another fast_auth_key_file: nothing fails, but nothing is
    shared (a lock on one does not hold on the other). Both log an ERROR, /healthz and
    check --online say it; when the odd one stops, the other says all is one again."""
    from tests.integration.test_check_online import check_online
    from tests.integration.test_metrics import scrape

    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    other.chmod(0o600)
    protection = {"failed_login_attempts": 2, "lock_by": "account"}
    metrics = free_port()
    a = make_bridge(state=state_section(tmp_path, redis_here), protection=protection,
                    metrics={"listen": f"127.0.0.1:{metrics}"})  # fmt: skip
    b = make_bridge(state=state_section(tmp_path, redis_here, fast_auth_key_file=str(other)),
                    protection=protection)  # fmt: skip
    for _ in range(2):
        assert mariadb_cli(a, "nat", "wrong").returncode != 0
    assert "ERROR 3955" in mariadb_cli(a, "nat", "nat-pw").stderr
    assert mariadb_cli(b, "nat", "nat-pw").stdout.strip() == "nat@%"  # why it matters
    mismatch = "holds another state.fast_auth_key_file (key fingerprint "
    for bridge in (a, b):
        bridge.wait_log(mismatch, timeout=HEARTBEAT * 3)
        assert "give every bridge the same key file, or each fleet its own key_prefix" in (
            bridge.log
        )
    code, body = scrape(metrics, "/healthz")
    assert code == 503 and mismatch in json.loads(body)["state"], body
    done = check_online(a.config)
    assert done.returncode == 1 and "error: state.fast_auth_key_file: another bridge" in (
        done.stderr
    )
    assert other.read_bytes().hex() not in a.log + b.log + done.stderr
    b.stop()
    a.wait_log("now holds the same fast_auth_key_file", timeout=HEARTBEAT * 4)
    wait_until(lambda: scrape(metrics, "/healthz")[0] == 200, 10, "/healthz 200")


def test_unlock_while_redis_hangs_forgets_what_the_bridge_kept_and_says_the_rest_stays(
    make_bridge: Any, tmp_path: Path, redis_here: RedisServer
) -> None:
    """Redis stopped (SIGSTOP: it keeps its data) while nat is locked: the bridge refuses
    nat from the lock it has seen; `unlock` cannot clear the shared records and says so
    (exit 1), but this bridge stops refusing; once Redis answers, the shared lock holds
    again until an unlock that reaches it."""
    from tests.integration.test_admin import admin

    bridge = make_bridge(admin={"listen": f"unix:{tmp_path}/admin.sock"},
                         state=state_section(tmp_path, redis_here),
                         protection={"failed_login_attempts": 2, "lock_by": "account"})  # fmt: skip
    for _ in range(2):
        assert mariadb_cli(bridge, "nat", "wrong").returncode != 0
    assert "ERROR 3955" in mariadb_cli(bridge, "nat", "nat-pw").stderr
    assert redis_here.proc is not None
    redis_here.proc.send_signal(signal.SIGSTOP)
    try:
        assert "ERROR 3955" in mariadb_cli(bridge, "nat", "nat-pw").stderr  # a known lock
        done = admin(bridge, "unlock", "nat")
        assert done.returncode == 1
        assert re.search(rf"unlock: state engine {redis_here.url}: no answer within [\d.]+ s: "
                         r"the failed logins and locks in it are not forgotten \(this bridge "
                         r"forgot the [1-9]\d* record\(s\) it kept itself", done.stderr), (
            done.stderr
        )  # fmt: skip
        assert mariadb_cli(bridge, "nat", "nat-pw").stdout.strip() == "nat@%"
    finally:
        redis_here.proc.send_signal(signal.SIGCONT)
    time.sleep(MAX_BACKOFF / 4)  # the engine's backoff after the failures
    wait_until(lambda: "ERROR 3955" in mariadb_cli(bridge, "nat", "nat-pw").stderr, 15,
               "the shared lock again")  # fmt: skip
    done = admin(bridge, "unlock", "nat")
    assert done.returncode == 0 and "unlocked nat: " in done.stdout
    assert mariadb_cli(bridge, "nat", "nat-pw").stdout.strip() == "nat@%"


def test_throttle_when_down_closed_refuses_logins_until_redis_answers(
    make_bridge: Any, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis", free_port())
    (tmp_path / "redis").mkdir()
    bridge = make_bridge(state=state_section(tmp_path, server, throttle_when_down="closed"),
                         protection={"failed_login_attempts": 3})  # fmt: skip
    with pytest.raises(pymysql.err.MySQLError) as caught:
        connect("pymysql", bridge, "nat", "nat-pw", "tls")
    assert error_of(caught.value)[0] == 1045
    assert "state.throttle_when_down is closed" in bridge.log
    server.start_again()
    try:
        wait_until(lambda: mariadb_cli(bridge, "nat", "nat-pw").returncode == 0, 15, "a login")
    finally:
        server.stop()
