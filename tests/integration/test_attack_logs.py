"""Log and audit injection: text a client chooses (its user name, the database it asks for,
which the upstream's error repeats) must leave one log line and one audit record per event,
one row in the admin's session list, and no escape sequence for the terminal that shows
them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from bridge.scramble import native_token
from tests.integration.harness import Bridge, MakeBridge, closing, connect, error_of
from tests.integration.rawclient import Raw

pytestmark = pytest.mark.integration

FORGED = "2026-12-01 00:00:00,000 INFO bridge.session: conn=1 session open: user='root'"
BREAKS = ["\n", "\r", "\x1b[2J", "\x85", "\u2028", "\u2029"]


def lines_with(bridge: Bridge, marker: str) -> list[str]:
    return [line for line in bridge.log.splitlines() if marker in line]


def test_a_database_name_cannot_forge_log_lines(make_bridge: MakeBridge) -> None:
    """The upstream's 1049 or 1102 repeats the database name as the client sent it (newlines and
    all) and the bridge logs that answer: the text log escapes it onto one line."""
    bridge = make_bridge()
    database = "nosuch_h37\n\x1b[2J\u2028" + FORGED[24:60]  # at most 64 characters
    with pytest.raises(pymysql.err.MySQLError) as err:
        connect("pymysql", bridge, "nat", "nat-pw", "tls", database=database)
    assert error_of(err.value)[0] in (1049, 1102)  # 1102: a name MariaDB finds invalid
    bridge.wait_log("nosuch_h37")
    found = lines_with(bridge, "nosuch_h37")
    assert len(found) == 1, found
    assert "\x1b" not in bridge.log  # (MariaDB writes ESC as \\001B itself)
    assert "\\n" in found[0] and "\\u2028" in found[0]
    assert not any(line.startswith(FORGED[24:60]) for line in bridge.log.splitlines())


def test_user_names_leave_one_audit_record_each(make_bridge: MakeBridge) -> None:
    """Each name breaks lines for some reader (a newline for all, U+2028 for str.splitlines
    and JavaScript): every login attempt is still one record a line, parsed back to the
    name the client sent; a good login next to them too."""
    bridge = make_bridge(audit_log="audit.jsonl")
    names = [f"ghost{i}{br}{FORGED}"[:80] for i, br in enumerate(BREAKS)]
    for name in names:
        with pytest.raises(pymysql.err.MySQLError):
            connect("pymysql", bridge, name, "pw", "tls")
    with closing(connect("pymysql", bridge, "nat", "nat-pw", "tls")):
        pass
    bridge.wait_log("session open: user='nat'")
    lines = bridge.audit_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["user"] for r in records] == [*names, "nat"]
    assert all(FORGED not in line.split('"user"')[0] for line in lines)
    denied = lines_with(bridge, "access denied: user=")
    assert len(denied) == len(names)


def test_a_client_in_its_handshake_cannot_write_to_the_admins_terminal(
    make_bridge: MakeBridge, tmp_path: Path
) -> None:
    """`mysql-auth-bridge sessions` lists sessions still authenticating, by the user name
    the client sent: a client that stops answering after its handshake response keeps that
    name on the operator's screen, so it is shown escaped (no ANSI sequence, no forged
    table row)."""
    bridge = make_bridge(admin={"listen": f"unix:{tmp_path}/admin.sock"})
    name = "ghost\x1b]0;owned\x07\x1b[2J\n42  root  'root'@'%'"
    raw = Raw.connect(bridge.port)
    try:
        greeting = raw.greeting()
        raw.hello(name, native_token(b"pw", greeting.scramble), "no_such_plugin")
        assert raw.read()[1][:1] == b"\xfe"  # switched, and now the bridge waits for us
        done = subprocess.run(
            [sys.executable, "-m", "bridge", "sessions", "-c", str(bridge.config)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        raw.close()
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    lines = done.stdout.splitlines()
    assert len(lines) == 2, lines  # the header and this one session
    assert "ghost\\x1b]0;owned\\x07\\x1b[2J\\n42  root" in lines[1]
