"""`check` tells its errors in the files' order, each by line: the config first, then the
accounts files as the config lists them, then the credentials file, whatever order the
stages found them in (preflight by setting, rows before grants, rows before credentials)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.checks import in_file_order
from sandbox.bridgeproc import hash_text

PLACE = re.compile(r"^(?:error|warning): (\S+?)(?::(\d+))?: ", re.M)


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "check", "--skip-ports", "-c",
                           str(config)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def places(stderr: str, base: Path) -> list[tuple[str, int]]:
    # The open-files warning depends on the machine's limit (tests/test_fdlimit.py)
    kept = "\n".join(line for line in stderr.splitlines() if "open-files limit" not in line)
    return [(Path(p).relative_to(base).as_posix(), int(n or 0)) for p, n in PLACE.findall(kept)]


def test_check_reports_errors_in_the_files_order_and_by_line(tmp_path: Path) -> None:
    # Preflight checks listen before tls, but tls is on line 1; a.yaml's grant (line 2) is
    # checked after its rows; b.yaml comes first because the config lists it first.
    (tmp_path / "bridge.yaml").write_text(
        "tls: {cert: missing.crt, key: missing.key}\n"
        "upstream: {credentials: creds.yaml}\n"
        "accounts: [b.yaml, a.yaml]\n"
        f"listen: {{unix: {tmp_path}/no-such-dir/x.sock}}\n"
    )
    (tmp_path / "a.yaml").write_text(
        "proxy_grants:\n  - {proxy: \"'ok\", proxied: [\"'x'@'%'\"]}\n"
        "accounts:\n  - {user: a1, plugin: mysql_native_password, authentication_string: nope}\n"
        "  - {user: a2, plugin: parsec}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "accounts:\n  - {user: b1, plugin: parsec}\n"
        "  - {user: b2, host: '10.0.0.0/99', plugin: mysql_native_password}\n"
    )
    (tmp_path / "creds.yaml").write_text("zed: {}\nalpha: {password_env: NOT_SET_ANYWHERE}\n")
    (tmp_path / "creds.yaml").chmod(0o600)
    done = check(tmp_path / "bridge.yaml")
    assert done.returncode == 1
    assert places(done.stderr, tmp_path) == [
        ("bridge.yaml", 1), ("bridge.yaml", 1), ("bridge.yaml", 4),
        ("b.yaml", 2), ("b.yaml", 3),
        ("a.yaml", 2), ("a.yaml", 4), ("a.yaml", 5),
        ("creds.yaml", 1), ("creds.yaml", 2),
    ], done.stderr  # fmt: skip
    assert done.stderr.endswith(f"{tmp_path / 'bridge.yaml'}: 10 error(s)\n")


def test_cross_file_errors_are_in_line_order_too(tmp_path: Path) -> None:
    """The rules across files (an account or a PROXY grant with no upstream credentials)
    were told rows first, then grants: a grant above the rows came last."""
    native = hash_text("mysql_native_password", "pw")
    (tmp_path / "accounts.yaml").write_text(
        "proxy_grants:\n  - {proxy: \"'p'@'%'\", proxied: [\"'dev'@'%'\"]}\n"
        f"accounts:\n  - {{user: p, plugin: mysql_native_password, authentication_string: '{native}'}}\n"
        f"  - {{user: solo, plugin: mysql_native_password, authentication_string: '{native}'}}\n"
    )  # fmt: skip
    (tmp_path / "creds.yaml").write_text("other: {password: x}\n")
    (tmp_path / "creds.yaml").chmod(0o600)
    (tmp_path / "bridge.yaml").write_text(
        "upstream: {credentials: creds.yaml}\naccounts: [accounts.yaml]\n"
        "rsa: {private_key: k.pem, public_key: k.pub}\n"
    )
    done = check(tmp_path / "bridge.yaml")
    lines = done.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    # p's only grant names an account without credentials: a login passes over it (a
    # warning) and p logs in as itself (bridge/mapping/proxy.py), for which it has none either
    assert places("\n".join(errors), tmp_path) == [("accounts.yaml", 4), ("accounts.yaml", 5)]
    assert "'p'@'%' can log in" in errors[0] and "'solo'@'%' can log in" in errors[1]
    warnings = [line for line in lines if line.startswith("warning: ") and "dev" in line]
    assert places("\n".join(warnings), tmp_path) == [("accounts.yaml", 2)]
    assert "PROXY grant for 'dev'@'%'" in warnings[0]


def test_order_of_lines() -> None:
    lines = [
        "/etc/b/x.pem:3: c",
        "tls: cannot load the pair",
        "/etc/b/accounts.yaml:9: a",
        "/etc/b/bridge.yaml:7: listen.unix: b",
        "/etc/b/accounts.yaml: holds a secret",
        "/etc/b/accounts.yaml:10: d",
        "/etc/b/bridge.yaml:2: tls.cert: e",
        "/etc/b/accounts.yaml:9: f",
        "--workers 2 with state.backend memory: g",
    ]
    files = [Path("/etc/b/bridge.yaml"), Path("/etc/b/accounts.yaml")]
    assert in_file_order(lines, files) == [
        "/etc/b/bridge.yaml:2: tls.cert: e",
        "/etc/b/bridge.yaml:7: listen.unix: b",
        "/etc/b/accounts.yaml: holds a secret",  # the file itself: before its lines
        "/etc/b/accounts.yaml:9: a",
        "/etc/b/accounts.yaml:9: f",  # the same place: as found
        "/etc/b/accounts.yaml:10: d",  # by number, not by text
        "/etc/b/x.pem:3: c",  # a file the config does not list: after those it does
        "tls: cannot load the pair",  # no file: last, as found
        "--workers 2 with state.backend memory: g",
    ]


FILES = [Path("conf/bridge.yaml"), Path("conf/z.yaml"), Path("conf/a.yaml")]


@settings(max_examples=200, deadline=None)
@given(
    found=st.lists(
        st.tuples(st.integers(0, len(FILES) - 1), st.integers(1, 40)), max_size=12, unique=True
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_order_does_not_depend_on_the_order_found(
    found: list[tuple[int, int]], seed: int
) -> None:
    lines = [f"{FILES[f]}:{n}: problem {f}-{n}" for f, n in found]
    shuffled = lines[:]
    random.Random(seed).shuffle(shuffled)
    told = in_file_order(shuffled, FILES)
    assert told == in_file_order(lines, FILES)
    assert told == [f"{FILES[f]}:{n}: problem {f}-{n}" for f, n in sorted(found)]
