"""The command line as a DBA uses it: check, explain, import-sql."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.bridgeproc import hash_text


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    native = hash_text("mysql_native_password", "pw")
    (tmp_path / "accounts.yaml").write_text(f"""accounts:
  - {{user: alice, host: "%", plugin: caching_sha2_password, authentication_string: "{hash_text("caching_sha2_password", "pw")}"}}
  - {{user: app, host: "10.%", plugin: mysql_native_password, authentication_string: "{native}"}}
  - {{user: "", host: localhost, plugin: mysql_native_password}}
  - {{user: "", host: "%", plugin: mysql_native_password, authentication_string: "{native}"}}
proxy_grants:
  - {{proxy: "'alice'@'%'", proxied: ["'developer'@'%'"]}}
""")
    (tmp_path / "creds.yaml").write_text("developer: {password: x}\napp: {password: y}\n")
    os.chmod(tmp_path / "creds.yaml", 0o600)
    config = tmp_path / "bridge.yaml"
    config.write_text("upstream: {credentials: creds.yaml}\naccounts: [accounts.yaml]\n"
                      "rsa: {private_key: k.pem, public_key: k.pub}\n")  # fmt: skip
    return config


def test_check_ok_with_a_warning_and_writes_nothing(conf: Path) -> None:
    done = cli("check", "-c", str(conf))
    assert done.returncode == 0, done.stderr
    assert "OK (4 account rows)" in done.stdout
    assert (
        "warning: " in done.stderr
        and "''@'localhost' is more specific than the default proxy" in done.stderr
    )
    assert not (conf.parent / "k.pem").exists()  # check inspects, it creates no key


def test_check_reports_missing_credentials_with_file_and_line(conf: Path) -> None:
    (conf.parent / "creds.yaml").write_text("app: {password: y}\n")
    done = cli("check", "-c", str(conf))
    assert done.returncode == 1
    assert f"{conf.parent / 'accounts.yaml'}:7: PROXY grant for 'developer'@'%'" in done.stderr


def test_check_reports_a_grant_to_a_missing_row(conf: Path) -> None:
    text = (conf.parent / "accounts.yaml").read_text().replace("'alice'@'%'\"", "'bob'@'%'\"")
    (conf.parent / "accounts.yaml").write_text(text)
    done = cli("check", "-c", str(conf))
    assert (
        done.returncode == 1
        and "accounts.yaml:7: PROXY grant to 'bob'@'%', which is no account row" in done.stderr
    )


def test_explain_proxied_login(conf: Path) -> None:
    done = cli("explain", "-c", str(conf), "alice", "--host", "10.1.2.3")
    assert done.returncode == 0
    assert "match        'alice'@'%'" in done.stdout
    assert "account: 'developer'@'%' (proxied)" in done.stdout
    assert "result: logs in upstream as 'developer'" in done.stdout


def test_explain_passed_over_rows_and_anonymous_match(conf: Path) -> None:
    done = cli("explain", "-c", str(conf), "zed", "--host", "localhost", "--transport", "socket")
    assert done.returncode == 1
    assert "rows, most specific first:\n  match        ''@'localhost'" in done.stdout
    assert "the anonymous account is not a session" in done.stdout


def test_explain_unknown_host_row(conf: Path) -> None:
    done = cli("explain", "-c", str(conf), "app", "--host", "192.0.2.1")
    assert (
        "passed over  'app'@'10.%' (" in done.stdout and "host '10.%' does not match" in done.stdout
    )


def test_explain_follows_the_rows_wire_method_and_says_3169_without_credentials(
    conf: Path,
) -> None:
    """What a login does (tests/integration/test_explain_vs_login.py compares them live)."""
    native = hash_text("mysql_native_password", "pw")
    accounts = conf.parent / "accounts.yaml"
    accounts.write_text(f"""accounts:
  - {{user: clear, host: "%", plugin: mysql_native_password, authentication_string: "{native}",
     wire_method: mysql_clear_password}}
  - {{user: lonely, host: "%", plugin: mysql_native_password, authentication_string: "{native}"}}
""")
    done = cli("explain", "-c", str(conf), "clear", "--host", "10.1.2.3")
    assert "wire method: mysql_clear_password\n" in done.stdout, done.stdout + done.stderr
    done = cli("explain", "-c", str(conf), "lonely", "--host", "10.1.2.3")
    assert "account: 'lonely'@'%'\nresult: ERROR 3169 after authentication" in done.stdout
    assert done.returncode == 1


def test_import_sql_cli(tmp_path: Path) -> None:
    sql = tmp_path / "users.sql"
    sql.write_text("CREATE USER 'r'@'%' IDENTIFIED WITH mysql_native_password AS '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19';\n"
                   "CREATE USER 'e'@'%' IDENTIFIED VIA parsec;\n")  # fmt: skip
    out = tmp_path / "accounts.yaml"
    done = cli("import-sql", str(sql), "-o", str(out))
    assert done.returncode == 1  # something was not translated
    assert f"NOT TRANSLATED: {sql}:2: 'e'@'%': plugin 'parsec' is not supported" in done.stderr
    assert "user: r" in out.read_text()
    assert cli("import-sql", "-", stdin=sql.read_text().splitlines()[0]).returncode == 0


def test_module_docstring_names_every_command() -> None:
    import bridge.cli

    doc = bridge.cli.__doc__ or ""
    parsed = bridge.cli.parser()
    assert set(bridge.cli.EXAMPLES) == set(bridge.cli.COMMANDS)
    words = set(re.findall(r"[\w-]+", doc))
    missing = [name for name in bridge.cli.COMMANDS if name not in words]
    assert not missing, f"bridge/cli.py's docstring does not name {missing}"
    assert parsed.description == bridge.cli.DESCRIPTION
