"""User names from clients whose character set is not UTF-8: the bridge takes the name (and
database) in the client's character set, as mysqld does, and logs in upstream with it in
the same set. Every case is first tried directly against MariaDB, the reference."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.protocol.codec import lenenc_bytes, uint_bytes
from bridge.protocol.packets import parse_err
from bridge.scramble import native_token
from sandbox.certs import CertSet
from sandbox.mariadb import MariaDB
from sandbox.ports import wait_until
from tests.integration.harness import (
    Account,
    Bridge,
    Endpoint,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
    start_bridge,
)
from tests.integration.rawclient import CLIENT_CAPS, Raw

KEPT = "kept for"  # the bridge's log line when the pool takes a connection back

pytestmark = pytest.mark.integration

NAME, PASSWORD, DB = "jörg", "joerg-pw-1", "bücher"  # (PyMySQL sends passwords as latin1)
ACCOUNT = Account(NAME, PASSWORD, "mysql_native_password", upstream_password="up-joerg-2")
PLAIN = Account("cs_plain", "plain-pw-1", "mysql_native_password", upstream_password="up-plain-2")
LATIN1_ARG = os.fsdecode(NAME.encode("latin1"))  # argv bytes 6A F6 72 67, as a latin1 shell has
UTF8_ARG = NAME  # argv bytes 6A C3 B6 72 67
MISLEADING = "refused the bridge's"  # the start of the upstream-credentials warning


@dataclass(frozen=True)
class Direct:
    """MariaDB itself, as an Endpoint for the same client helpers."""

    port: int
    socket: Path
    certs: CertSet


@pytest.fixture(scope="module")
def direct(mariadb: MariaDB, certs: CertSet) -> Direct:
    # The upstream account, and the same name with the same password for the direct
    # reference logins (MariaDB itself is what the bridge is measured against).
    for account in (ACCOUNT, PLAIN):
        mariadb.sql(
            "SET NAMES utf8mb4;"
            f"CREATE USER IF NOT EXISTS '{account.user}'@'%' "
            f"IDENTIFIED BY '{account.upstream_password}';"
            f"GRANT ALL ON *.* TO '{account.user}'@'%'"
        )
    mariadb.sql(f"SET NAMES utf8mb4; CREATE DATABASE IF NOT EXISTS `{DB}`")
    return Direct(mariadb.port, mariadb.socket, certs)


@pytest.fixture(scope="module")
def charset_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet, direct: Direct
) -> Iterator[Bridge]:
    running = start_bridge(
        tmp_path_factory.mktemp("charset-bridge"), mariadb, certs, [ACCOUNT, PLAIN]
    )
    yield running
    running.stop()


def password_for(endpoint: Endpoint, charset_bridge: Bridge, account: Account = ACCOUNT) -> str:
    return account.password if endpoint is charset_bridge else account.upstream_password


def both(direct: Direct, charset_bridge: Bridge) -> list[Endpoint]:
    return [direct, charset_bridge]


# PyMySQL sends the name in the connection's charset; Connector/Python logs in as utf8mb4
# and sets the charset after; mysqlclient (libmariadb) sends the str's UTF-8 bytes whatever
# the charset (under latin1: the test after this one).
@pytest.mark.parametrize(
    ("client", "charset"),
    [("pymysql", "latin1"), ("pymysql", "utf8mb4"), ("mysqlclient", "utf8mb4"),
     ("connector", "latin1"), ("connector", "utf8mb4")],
)  # fmt: skip
def test_python_clients_log_in_as_the_name_with_its_database(
    direct: Direct, charset_bridge: Bridge, client: str, charset: str
) -> None:
    for endpoint in both(direct, charset_bridge):
        password = password_for(endpoint, charset_bridge)
        with closing(connect(client, endpoint, NAME, password, "tcp", DB, charset=charset)) as c:
            assert scalar(c, "SELECT CURRENT_USER()") == f"{NAME}@%"
            assert scalar(c, "SELECT DATABASE()") == DB
            assert scalar(c, "SELECT @@character_set_client") == charset


def test_mysqlclient_utf8_bytes_under_latin1_is_another_name_upstream_too(
    direct: Direct, charset_bridge: Bridge
) -> None:
    # libmariadb sends the user name's UTF-8 bytes with latin1's id: MariaDB reads 'jÃ¶rg',
    # no such account (1045). The bridge used to read 'jörg', authenticate, then fail
    # upstream with 3169 and a warning blaming its own credentials.
    for endpoint in both(direct, charset_bridge):
        password = password_for(endpoint, charset_bridge)
        with pytest.raises(Exception) as refused:
            connect("mysqlclient", endpoint, NAME, password, "tcp", charset="latin1")
        errno, message = error_of(refused.value)
        assert errno == 1045, message
    assert MISLEADING not in charset_bridge.log


@pytest.mark.parametrize(
    ("charset", "user"), [("latin1", LATIN1_ARG), ("utf8mb4", UTF8_ARG)]
)  # fmt: skip
def test_the_mariadb_cli_logs_in_in_its_charset(
    direct: Direct, charset_bridge: Bridge, charset: str, user: str
) -> None:
    # The CLI sends the name and database as its argv has them: in latin1 for a latin1 shell.
    sql = "SELECT CURRENT_USER(), DATABASE(), @@character_set_client"
    codec = "latin1" if charset == "latin1" else "utf-8"
    for endpoint in both(direct, charset_bridge):
        cmd: list[str | bytes] = [
            "mariadb", "--no-defaults", f"--default-character-set={charset}", "-N", "-B",
            b"-u" + user.encode(errors="surrogateescape"), f"-p{password_for(endpoint, charset_bridge)}",
            b"--database=" + DB.encode(codec), "-h127.0.0.1", f"-P{endpoint.port}",
            "--protocol=TCP", "--skip-ssl", "-e", sql,
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode(codec).split() == [f"{NAME}@%", DB, charset]


def test_the_cli_with_utf8_bytes_under_latin1_is_refused_like_mariadb(
    direct: Direct, charset_bridge: Bridge
) -> None:
    for endpoint in both(direct, charset_bridge):
        done = mariadb_cli(
            endpoint, UTF8_ARG, password_for(endpoint, charset_bridge),
            "--default-character-set=latin1", transport="tcp",
        )  # fmt: skip
        assert "ERROR 1045" in done.stderr, done.stderr
    assert MISLEADING not in charset_bridge.log


def raw_login(endpoint: Endpoint, user: bytes, charset: int, password: bytes) -> bytes:
    raw = Raw.connect(endpoint.port)
    try:
        greeting = raw.greeting()
        head = uint_bytes(CLIENT_CAPS, 4) + uint_bytes(1 << 24, 4) + bytes([charset]) + bytes(23)
        token = native_token(password, greeting.scramble)
        raw.send(head + user + b"\0" + lenenc_bytes(token) + b"mysql_native_password\0", 1)
        return raw.read()[1]
    finally:
        raw.close()


@pytest.mark.parametrize(
    ("charset", "user"),
    [(8, NAME.encode("latin1")), (63, NAME.encode("latin1")), (45, NAME.encode())],
)
def test_raw_handshakes_in_latin1_binary_utf8mb4(
    direct: Direct, charset_bridge: Bridge, charset: int, user: bytes
) -> None:
    for endpoint in both(direct, charset_bridge):
        password = password_for(endpoint, charset_bridge).encode()
        assert raw_login(endpoint, user, charset, password)[:1] == b"\x00"


@pytest.mark.parametrize("charset", [35, 54, 56, 60])  # ucs2, utf16, utf16le, utf32
@pytest.mark.parametrize("password", [b"wrong", None])
def test_ucs2_and_utf16_are_refused_before_authentication(
    direct: Direct, charset_bridge: Bridge, charset: int, password: bytes | None
) -> None:
    answers = []
    for endpoint in both(direct, charset_bridge):
        pw = password or password_for(endpoint, charset_bridge).encode()
        err = parse_err(raw_login(endpoint, NAME.encode(), charset, pw))
        answers.append((err.errno, err.sqlstate, err.message))
    assert answers[0][0] == 1231
    assert answers[1] == answers[0]


def test_a_pooled_connection_changes_to_the_name_in_the_next_clients_charset(
    charset_bridge: Bridge,
) -> None:
    # The pool hands a kept upstream connection to the next client with COM_CHANGE_USER,
    # which carries that client's charset (latin1 after utf8mb4 and back): the name goes in it.
    threads = []
    for charset in ["utf8mb4", "latin1", "utf8mb4"]:
        kept = charset_bridge.log.count(KEPT)
        with closing(
            connect("pymysql", charset_bridge, NAME, PASSWORD, "tcp", DB, charset=charset)
        ) as c:
            assert scalar(c, "SELECT CURRENT_USER()") == f"{NAME}@%"
            assert scalar(c, "SELECT @@character_set_client") == charset
            threads.append(scalar(c, "SELECT CONNECTION_ID()"))
        wait_until(lambda: charset_bridge.log_now.count(KEPT) > kept, 10, "the pool to keep it")  # noqa: B023
    assert len(set(threads)) == 1  # one upstream connection, changed twice


@pytest.mark.parametrize("charset", ["utf8mb4", "latin1"])
def test_change_user_to_the_name_mysqlclient(
    direct: Direct, charset_bridge: Bridge, charset: str
) -> None:
    # mysql_change_user sends the name's UTF-8 bytes with the connection's charset id:
    # MariaDB takes them as 'jörg' under utf8mb4, as 'jÃ¶rg' under latin1 (1045). The bridge
    # used to take 'jörg' under latin1 too, then fail upstream blaming its own credentials.
    for endpoint in both(direct, charset_bridge):
        plain = password_for(endpoint, charset_bridge, PLAIN)
        with closing(
            connect("mysqlclient", endpoint, PLAIN.user, plain, "tcp", charset=charset)
        ) as c:
            password = password_for(endpoint, charset_bridge)
            if charset == "utf8mb4":
                c.change_user(NAME, password, DB)
                assert scalar(c, "SELECT CURRENT_USER()") == f"{NAME}@%"
                assert scalar(c, "SELECT DATABASE()") == DB
            else:
                with pytest.raises(Exception) as refused:
                    c.change_user(NAME, password)
                assert error_of(refused.value)[0] == 1045
    assert MISLEADING not in charset_bridge.log


def raw_session(endpoint: Endpoint, charset: int, password: bytes) -> tuple[Raw, bytes]:
    """A raw client logged in as PLAIN in `charset`; returns it and the nonce to reuse."""
    raw = Raw.connect(endpoint.port)
    nonce = raw.greeting().scramble
    head = uint_bytes(CLIENT_CAPS, 4) + uint_bytes(1 << 24, 4) + bytes([charset]) + bytes(23)
    token = lenenc_bytes(native_token(password, nonce))
    raw.send(head + PLAIN.user.encode() + b"\0" + token + b"mysql_native_password\0", 1)
    assert raw.read()[1][:1] == b"\x00"
    return raw, nonce


def raw_change_user(raw: Raw, nonce: bytes, user: bytes, charset: int, password: bytes) -> bytes:
    """COM_CHANGE_USER as `user` (bytes as sent), following an AuthSwitchRequest; the answer."""
    token = native_token(password, nonce)
    packet = b"\x11" + user + b"\0" + bytes([len(token)]) + token + b"\0"
    raw.send(packet + uint_bytes(charset, 2) + b"mysql_native_password\0", 0)
    seq, answer = raw.read()
    if answer[:1] == b"\xfe":  # the bridge switches (to the same method and nonce)
        switch_nonce = answer[answer.index(b"\0") + 1 :].rstrip(b"\0")
        raw.send(native_token(password, switch_nonce), seq + 1)
        answer = raw.read()[1]
    return answer


def current_user(raw: Raw) -> bytes:
    return value(raw, b"SELECT CURRENT_USER()")


def value(raw: Raw, sql: bytes) -> bytes:
    """The one value a one-row, one-column query returns."""
    raw.send(b"\x03" + sql, 0)
    rows = []
    while True:  # column count, column, EOF, row, EOF (no CLIENT_DEPRECATE_EOF)
        payload = raw.read()[1]
        rows.append(payload)
        if payload[:1] == b"\xfe" and len(rows) > 3:
            return rows[-2][1:]


@pytest.mark.parametrize(
    ("session", "named"),
    # (handshake's id, the change's id: 0 = the server's, latin1 here, not the session's)
    [(8, 8), (8, 0), (45, 8), (45, 0)],
)
def test_a_raw_change_user_in_latin1(
    direct: Direct, charset_bridge: Bridge, session: int, named: int
) -> None:
    for endpoint in both(direct, charset_bridge):
        plain = password_for(endpoint, charset_bridge, PLAIN).encode()
        raw, nonce = raw_session(endpoint, session, plain)
        try:
            password = password_for(endpoint, charset_bridge).encode()
            answer = raw_change_user(raw, nonce, NAME.encode("latin1"), named, password)
            assert answer[:1] == b"\x00", answer
            # the session is latin1 now, its results too
            assert current_user(raw) == NAME.encode("latin1") + b"@%"
        finally:
            raw.close()


@pytest.mark.parametrize("password_right", [True, False])
def test_a_change_user_to_ucs2_is_refused_like_mariadb(
    direct: Direct, charset_bridge: Bridge, password_right: bool
) -> None:
    answers = []
    for endpoint in both(direct, charset_bridge):
        plain = password_for(endpoint, charset_bridge, PLAIN).encode()
        raw, nonce = raw_session(endpoint, 8, plain)
        try:
            password = password_for(endpoint, charset_bridge).encode()
            password = password if password_right else b"wrong"
            raw.send(b"\x03SET @v = 7", 0)
            assert raw.read()[1][:1] == b"\x00"
            err = parse_err(raw_change_user(raw, nonce, NAME.encode(), 35, password))
            answers.append((err.errno, err.sqlstate, err.message))
            # the session goes on as its account, reset (as MariaDB resets it)
            done = value(raw, b"SELECT CONCAT(CURRENT_USER(), ' ', @v IS NULL)")
            assert done == PLAIN.user.encode() + b"@% 1"
        finally:
            raw.close()
    assert answers[0][0] == 1231
    assert answers[1] == answers[0]


# MariaDB 10.11 writes the message in the client's charset: 'j\xf6rg' to a latin1 client,
# UTF-8 to utf8mb4 and (no conversion) to binary. The bridge sent UTF-8 to every client.
DENIED = b"\xff\x15\x04#28000Access denied for user 'j%brg'@'localhost' (using password: YES)"


@pytest.mark.parametrize(
    ("charset", "user", "name"),
    [(8, NAME.encode("latin1"), b"\xf6"), (45, NAME.encode(), "ö".encode()),
     (63, b"j\xf6rg", "ö".encode())],
)  # fmt: skip
def test_a_denial_names_the_user_in_the_clients_charset_as_mariadb_does(
    direct: Direct, charset_bridge: Bridge, charset: int, user: bytes, name: bytes
) -> None:
    for endpoint in both(direct, charset_bridge):
        assert raw_login(endpoint, user, charset, b"wrong-pw") == DENIED.replace(b"%b", name)


def test_pymysql_latin1_reads_the_same_denial_from_the_bridge_as_from_mariadb(
    direct: Direct, charset_bridge: Bridge
) -> None:
    messages = []
    for endpoint in both(direct, charset_bridge):
        with pytest.raises(Exception) as denied:
            connect("pymysql", endpoint, NAME, "wrong-pw", "tcp", charset="latin1")
        messages.append(error_of(denied.value))
    # PyMySQL decodes the message as UTF-8: the latin1 byte is U+FFFD, from both
    assert messages[0] == messages[1] == (
        1045, "Access denied for user 'j\ufffdrg'@'localhost' (using password: YES)")  # fmt: skip


# A refused COM_CHANGE_USER: MariaDB 10.11 resets the session to the server's character set
# (its globals: latin1 here) before it reads the packet, so the denial names the user in
# latin1 whatever the handshake's or the packet's charset, and a name sent with charset 0
# is read in latin1 too (its UTF-8 bytes are 'jÃ¶rg'). The bridge wrote the handshake's.
@pytest.mark.parametrize(
    ("session", "named", "user", "name"),
    [(45, 8, NAME.encode("latin1"), b"\xf6"), (8, 45, NAME.encode(), b"\xf6"),
     (45, 63, NAME.encode("latin1"), b"\xf6"), (45, 0, NAME.encode(), b"\xc3\xb6"),
     (8, 0, NAME.encode("latin1"), b"\xf6"), (45, 45, NAME.encode(), b"\xf6")],
)  # fmt: skip
def test_a_refused_change_user_names_the_user_in_the_servers_charset_as_mariadb_does(
    direct: Direct, charset_bridge: Bridge, session: int, named: int, user: bytes, name: bytes
) -> None:
    answers = []
    for endpoint in both(direct, charset_bridge):
        plain = password_for(endpoint, charset_bridge, PLAIN).encode()
        raw, nonce = raw_session(endpoint, session, plain)
        try:
            answers.append(raw_change_user(raw, nonce, user, named, b"wrong-pw"))
            assert current_user(raw) == PLAIN.user.encode() + b"@%"  # the session goes on
        finally:
            raw.close()
    assert answers[0] == DENIED.replace(b"%b", name)
    assert answers[1] == answers[0]
