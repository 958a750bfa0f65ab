"""The command line as a DBA uses it: check, explain, import-sql."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.bridgeproc import hash_text
from sandbox.ports import free_port


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
    # A free port: check reports a listen address another process holds (the default
    # 3307 may be a sandbox's on a shared machine).
    config.write_text("upstream: {credentials: creds.yaml}\naccounts: [accounts.yaml]\n"
                      "rsa: {private_key: k.pem, public_key: k.pub}\n"
                      f"listen: {{tcp: ['127.0.0.1:{free_port()}']}}\n")  # fmt: skip
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


def test_check_warns_about_rows_only_a_host_name_matches(conf: Path) -> None:
    """No DNS in the bridge: 'app'@'app1.example.com' or '%.example.com' match no client
    (fail closed, but silently without this warning); IPs, netmasks, 'localhost' and
    wildcards an address can match are no such rows."""
    accounts = conf.parent / "accounts.yaml"
    native = hash_text("mysql_native_password", "pw")
    hosts = ["app1.example.com", "%.example.com", "LOCALHOST", "10.1.2.%", "fe80::%",
             "10.0.0.0/255.0.0.0", "::1", "db%", "l%"]  # fmt: skip
    rows = "".join(
        f'  - {{user: app, host: "{h}", plugin: mysql_native_password, '
        f'authentication_string: "{native}"}}\n'
        for h in hosts
    )
    accounts.write_text("accounts:\n" + rows)
    done = cli("check", "-c", str(conf))
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "resolves no host names" in line]
    assert len(warned) == 2, warned
    assert "accounts.yaml:2: 'app'@'app1.example.com' names hosts by name" in warned[0]
    assert "accounts.yaml:3: 'app'@'%.example.com'" in warned[1]


PASSED_OVER = (
    "passes over it, as MySQL passes over a grant whose proxied account does not exist, and "
)


def test_check_reports_missing_credentials_with_file_and_line(conf: Path) -> None:
    """alice's only grant names an account without credentials: a login passes over it, as
    MySQL passes over a grant to an account that does not exist (a warning), and alice logs
    in as herself, for whom there is no entry either (the error)."""
    (conf.parent / "creds.yaml").write_text("app: {password: y}\n")
    done = cli("check", "-c", str(conf), "--skip-ports")
    assert done.returncode == 1
    accounts, creds = conf.parent / "accounts.yaml", conf.parent / "creds.yaml"
    lines = done.stderr.splitlines()
    assert f"warning: {accounts}:7: PROXY grant for 'developer'@'%', but {creds} has no entry " \
        f"'developer' for the bridge to log in upstream with: a login as 'alice'@'%' " \
        f"{PASSED_OVER}logs in as 'alice'@'%' itself, which has no entry either (ERROR 3169)" \
        in lines  # fmt: skip
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [
        f"error: {accounts}:2: 'alice'@'%' can log in as itself, but {creds} has no entry "
        "'alice' for the bridge to log in upstream with"
    ]


def test_check_says_what_a_login_does_past_a_grant_it_passes_over(conf: Path) -> None:
    """The same grant to an account without credentials, as login passes over it: before a
    grant it can use, and on a row that logs in as itself; check exits 0 for both."""
    accounts = conf.parent / "accounts.yaml"
    text = accounts.read_text().replace(
        "proxied: [\"'developer'@'%'\"]}",
        "proxied: [\"'ghost'@'%'\", \"'developer'@'%'\"]}\n"
        "  - {proxy: \"'app'@'10.%'\", proxied: [\"'ghost'@'h'\"]}",
    )
    accounts.write_text(text)
    done = cli("check", "-c", str(conf), "--skip-ports")
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "no entry 'ghost'" in line]
    assert len(warned) == 2, done.stderr
    assert warned[0].startswith(f"warning: {accounts}:7: PROXY grant for 'ghost'@'%', ")
    assert warned[0].endswith(
        f"a login as 'alice'@'%' {PASSED_OVER}logs in upstream as 'developer'@'%' (the first "
        "of its PROXY grants it can use)"
    )
    assert warned[1].startswith(f"warning: {accounts}:8: PROXY grant for 'ghost'@'h', ")
    assert warned[1].endswith(f"a login as 'app'@'10.%' {PASSED_OVER}logs in upstream as "
                              "'app'@'10.%' itself")  # fmt: skip
    explained = cli("explain", "-c", str(conf), "alice", "--host", "10.1.2.3").stdout
    assert "account: 'developer'@'%' (proxied)" in explained  # what the login does


def test_check_says_the_anonymous_built_in_row_passes_over_every_grant(conf: Path) -> None:
    accounts = conf.parent / "accounts.yaml"
    accounts.write_text(accounts.read_text() + "  - {proxy: \"''@'%'\", proxied: [\"'x'@'%'\"]}\n")
    done = cli("check", "-c", str(conf), "--skip-ports")
    assert done.returncode == 0, done.stderr
    assert f"warning: {accounts}:8: PROXY grant for 'x'@'%', " in done.stderr
    assert (f"a login as ''@'%' {PASSED_OVER}is refused with ERROR 1045: no mapping (a built-in "
            "plugin's anonymous row does not proxy, as in MySQL)") in done.stderr  # fmt: skip


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


@pytest.fixture
def cleartext_conf(conf: Path) -> Path:
    """A store row asked for mysql_clear_password and a PAM default proxy."""
    native = hash_text("mysql_native_password", "pw")
    (conf.parent / "accounts.yaml").write_text(f"""accounts:
  - {{user: clr, host: "%", plugin: mysql_native_password, authentication_string: "{native}",
     wire_method: mysql_clear_password}}
  - {{user: "", host: "%", plugin: authentication_pam, authentication_string: "mysql, staff=app"}}
proxy_grants:
  - {{proxy: "''@'%'", proxied: ["'app'@'%'"]}}
""")
    (conf.parent / "creds.yaml").write_text("clr: {password: x}\napp: {password: y}\n")
    with conf.open("a") as config:
        config.write("backends: {pam: {service: mysql}}\n")
    return conf


def test_check_still_errs_on_a_pam_mapping_to_an_account_without_credentials(
    cleartext_conf: Path,
) -> None:
    """A mapping that names an account without credentials is denied at login (1045), not
    passed over: an error, whatever the store rows' grants are."""
    (cleartext_conf.parent / "creds.yaml").write_text("clr: {password: x}\n")
    done = cli("check", "-c", str(cleartext_conf), "--skip-ports")
    assert done.returncode == 1
    accounts, creds = cleartext_conf.parent / "accounts.yaml", cleartext_conf.parent / "creds.yaml"
    assert [line for line in done.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: {accounts}:6: PROXY grant for 'app'@'%', but {creds} has no entry 'app' for "
        "the bridge to log in upstream with"
    ]
    assert "passes over" not in done.stderr


def test_check_warns_of_a_group_mapping_no_proxy_grant_covers(cleartext_conf: Path) -> None:
    """MySQL refuses every login a mapping decides when the row may not proxy the mapped
    account; check says so instead of 'OK' (explain shows it per user)."""
    accounts = cleartext_conf.parent / "accounts.yaml"
    accounts.write_text(accounts.read_text().replace("staff=app", "staff=app, dba=developer"))
    done = cli("check", "-c", str(cleartext_conf))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "PROXY grant" in line]
    assert warnings == [
        f"warning: {accounts}:4: ''@'%' maps dba to 'developer', but has no PROXY grant for "
        "'developer': those logins get ERROR 1045 (add "
        "{proxy: \"''@'%'\", proxied: [\"'developer'@'%'\"]} to proxy_grants)"
    ]


REFUSED = "result: refused before authentication (ERROR 3159): {} answers over insecure transport"


def test_explain_refuses_clear_text_over_plain_tcp_as_a_login_does(cleartext_conf: Path) -> None:
    """ERROR 3159 where a real login gets it (tests/integration/test_explain_vs_login.py),
    before any mapping: the client is never asked for its password."""
    config = str(cleartext_conf)
    done = cli("explain", "-c", config, "clr", "--host", "10.0.0.1", "--transport", "tcp")
    assert done.returncode == 1, done.stdout + done.stderr
    assert REFUSED.format("mysql_clear_password") in done.stdout
    assert "connect with TLS or through the Unix socket" in done.stdout
    assert "account:" not in done.stdout  # a refused login is never mapped
    for transport, host in (("tls", "10.0.0.1"), ("socket", "localhost")):
        done = cli("explain", "-c", config, "clr", "--host", host, "--transport", transport)
        assert done.returncode == 0 and "result: logs in upstream as 'clr'" in done.stdout


def test_explain_for_a_pam_row_depends_on_the_clients_plugin(cleartext_conf: Path) -> None:
    """PAM asks for dialog (clear text) unless the client opens with a password method it
    keeps: caching_sha2_password, the greeting's by default and so what explain opens with,
    carries the password RSA-encrypted over plain TCP."""
    config = str(cleartext_conf)
    tcp = ("--host", "10.0.0.1", "--transport", "tcp", "--groups", "staff")
    done = cli("explain", "-c", config, "pat", *tcp, "--default-auth", "mysql_native_password")
    assert done.returncode == 1 and REFUSED.format("dialog") in done.stdout, done.stdout
    done = cli("explain", "-c", config, "pat", *tcp, "--default-auth", "mysql_clear_password")
    assert done.returncode == 1 and REFUSED.format("mysql_clear_password") in done.stdout
    done = cli("explain", "-c", config, "pat", *tcp, "--default-auth", "caching_sha2_password")
    assert "over tcp, opening with caching_sha2_password\n" in done.stdout
    assert done.returncode == 0 and "result: logs in upstream as 'app'" in done.stdout
    done = cli("explain", "-c", config, "pat", *tcp)
    greeting = "opening with caching_sha2_password (the greeting's: server.default_auth_plugin)"
    assert f"over tcp, {greeting}\n" in done.stdout
    assert done.returncode == 0 and "result: logs in upstream as 'app'" in done.stdout
    done = cli("explain", "-c", config, "pat", *tcp, "--default-auth", "nosuch")
    assert done.returncode == 1 and "--default-auth takes a client plugin (" in done.stderr


def test_explain_opens_with_the_configured_greeting_plugin(cleartext_conf: Path) -> None:
    with cleartext_conf.open("a") as config:
        config.write("server: {default_auth_plugin: mysql_native_password}\n")
    done = cli("explain", "-c", str(cleartext_conf), "pat", "--host", "10.0.0.1",
               "--transport", "tcp", "--groups", "staff")  # fmt: skip
    assert "opening with mysql_native_password (the greeting's" in done.stdout
    assert done.returncode == 1 and REFUSED.format("dialog") in done.stdout, done.stdout


def test_explain_refuses_an_auth_socket_row_over_tcp(conf: Path) -> None:
    (conf.parent / "accounts.yaml").write_text(
        "accounts:\n  - {user: backup, host: localhost, plugin: auth_socket,"
        " authentication_string: 'tom'}\n"
    )
    (conf.parent / "creds.yaml").write_text("backup: {password: x}\n")
    config = conf
    for transport in ("tcp", "tls"):
        done = cli("explain", "-c", str(config), "backup", "--host", "127.0.0.1",
                   "--transport", transport)  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stdout.endswith(
            "result: access denied (ERROR 1698): auth_socket works on the Unix socket only\n"
        )
    done = cli("explain", "-c", str(config), "backup", "--transport", "socket")
    assert (
        "(the client must run as one of the OS users backup, tom: else ERROR 1698)" in done.stdout
    )


def test_explain_follows_allow_insecure_cleartext(cleartext_conf: Path) -> None:
    with cleartext_conf.open("a") as config:
        config.write("server: {allow_insecure_cleartext: true}\n")
    for user in ("clr", "pat"):
        done = cli("explain", "-c", str(cleartext_conf), user, "--host", "10.0.0.1",
                   "--transport", "tcp", "--groups", "staff")  # fmt: skip
        assert done.returncode == 0 and "result: logs in upstream as " in done.stdout, done.stdout


def test_explain_refuses_an_unknown_user_opening_with_clear_text_over_plain_tcp(
    conf: Path,
) -> None:
    """No row matches 'ghost': the decoy keeps mysql_clear_password as a store row does, so
    over plain TCP a real login gets 3159 before the decoy is reached, not 1045
    (tests/integration/test_explain_vs_login.py proves it against a running bridge)."""
    accounts = (conf.parent / "accounts.yaml").read_text().splitlines()
    (conf.parent / "accounts.yaml").write_text("\n".join(accounts[:3]) + "\n")  # no ''@'%'
    ghost = ("explain", "-c", str(conf), "ghost", "--host", "10.0.0.1")
    clear = ("--default-auth", "mysql_clear_password")
    done = cli(*ghost, "--transport", "tcp", *clear)
    assert done.returncode == 1 and REFUSED.format("mysql_clear_password") in done.stdout
    assert "decoy: the wire method of one of the plugins in use, by the user name: "\
           "mysql_clear_password\n" in done.stdout  # fmt: skip
    assert "ERROR 1045" not in done.stdout
    for transport in ("tls", "socket"):
        done = cli(*ghost, "--transport", transport, *clear)
        assert done.returncode == 1 and "result: access denied (ERROR 1045)" in done.stdout
    done = cli(*ghost, "--transport", "tcp", "--default-auth", "mysql_native_password")
    assert "result: access denied (ERROR 1045)" in done.stdout, done.stdout
    with conf.open("a") as config:
        config.write("server: {allow_insecure_cleartext: true}\n")
    done = cli(*ghost, "--transport", "tcp", *clear)
    assert done.returncode == 1 and "result: access denied (ERROR 1045)" in done.stdout


@pytest.fixture
def root_conf(conf: Path) -> Path:
    """What `import-sql` made of a MariaDB dump before it skipped the install default:
    root's row with `GRANT PROXY ON ''@'%' TO root@localhost WITH GRANT OPTION`."""
    accounts = conf.parent / "accounts.yaml"
    native = hash_text("mysql_native_password", "root-pw")
    accounts.write_text(
        accounts.read_text().replace("proxy_grants:\n", f"""  - {{user: root, host: localhost, plugin: mysql_native_password, authentication_string: "{native}"}}
proxy_grants:
  - {{proxy: "'root'@'localhost'", proxied: ["''@'%'"]}}
""")
    )  # fmt: skip
    return conf


def test_explain_says_root_is_not_proxied_to_the_anonymous_account(root_conf: Path) -> None:
    (root_conf.parent / "creds.yaml").write_text(
        "developer: {password: x}\napp: {password: y}\nroot: {password: r}\n"
    )
    done = cli("explain", "-c", str(root_conf), "root", "--host", "localhost")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mapping: no mapping (its PROXY grant on ''@'%' is not used: the anonymous account " \
           "is never a proxied account" in done.stdout  # fmt: skip
    assert "account: 'root'@'localhost'\nresult: logs in upstream as 'root'" in done.stdout
    assert "(proxied)" not in done.stdout and "-> ''" not in done.stdout


def test_check_says_the_grant_to_the_anonymous_account_is_never_used(root_conf: Path) -> None:
    """A warning that says why, not an error asking for credentials of the account ''; root,
    which logs in as itself, needs its own credentials."""
    done = cli("check", "-c", str(root_conf))
    assert done.returncode == 1
    assert "has no entry ''" not in done.stderr
    accounts = root_conf.parent / "accounts.yaml"
    assert f"{accounts}:6: 'root'@'localhost' can log in as itself, but " in done.stderr
    assert (
        f"warning: {accounts}:8: the PROXY grant on ''@'%' to 'root'@'localhost' is never used: "
        "the anonymous account is never a proxied account (as in MySQL: GRANT PROXY ON ''@'%' "
        "... WITH GRANT OPTION only lets the grantee grant PROXY); 'root'@'localhost' logs in "
        "as itself (or by its other grants): drop the grant from proxy_grants"
    ) in done.stderr, done.stderr
    (root_conf.parent / "creds.yaml").write_text(
        "developer: {password: x}\napp: {password: y}\nroot: {password: r}\n"
    )
    done = cli("check", "-c", str(root_conf))
    assert done.returncode == 0, done.stderr
    assert "is never used" in done.stderr


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


def test_import_sql_output_is_not_readable_by_others(tmp_path: Path) -> None:
    """The file holds password hashes: made 0640 under a umask of 022; an existing file
    keeps the mode its owner gave it."""
    sql = tmp_path / "users.sql"
    sql.write_text(
        "CREATE USER 'r'@'%' IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19';\n"
    )
    new, kept, open_ = tmp_path / "new.yaml", tmp_path / "kept.yaml", tmp_path / "open.yaml"
    for path, mode in ((kept, 0o600), (open_, 0o644)):
        path.write_text("")
        path.chmod(mode)
    old = os.umask(0o022)
    try:
        done = {out: cli("import-sql", str(sql), "-o", str(out)) for out in (new, kept, open_)}
    finally:
        os.umask(old)
    assert all(d.returncode == 0 for d in done.values())
    assert stat.S_IMODE(new.stat().st_mode) == 0o640
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert "warning" not in done[new].stderr + done[kept].stderr
    assert f"warning: {open_} holds password hashes and every user may read it (mode 0644)" in (
        done[open_].stderr
    )
    assert "user: r" in new.read_text() and "user: r" in kept.read_text()


@pytest.mark.parametrize("command", ["reload", "status", "sessions"])
def test_admin_commands_with_a_broken_bridge_yaml_say_the_bridge_was_not_asked(
    tmp_path: Path, command: str
) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text("server:\n  max_conections: 3\n")
    done = cli(command, "-c", str(config))
    assert done.returncode == 1
    assert f"{config}:2: server.max_conections: unknown key" in done.stderr
    assert "the running bridge was not asked" in done.stderr
    assert "--admin unix:" in done.stderr and f"check -c {config}" in done.stderr
    # --admin: the file is not read at all, and the message is about the address
    done = cli(command, "-c", str(config), "--admin", f"unix:{tmp_path}/none.sock")
    assert done.returncode == 1 and "max_conections" not in done.stderr
    assert f"no bridge answers on unix:{tmp_path}/none.sock" in done.stderr


def test_workers_sockets_without_worker_0s_name_the_worker_option(tmp_path: Path) -> None:
    """admin.sock is absent and so is admin.sock.0 (worker 0 gone), but other workers'
    sockets are there: the error names them and --worker, not only the missing path."""
    import socket

    listeners = []
    for index in (1, 2):
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(tmp_path / f"admin.sock.{index}"))
        listeners.append(sock)
    try:
        done = cli("status", "--admin", f"unix:{tmp_path}/admin.sock")
    finally:
        for sock in listeners:
            sock.close()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"no bridge answers on unix:{tmp_path}/admin.sock, and worker 0's" in done.stderr
    assert "(sockets of workers 1, 2 are there): ask one with --worker N" in done.stderr


def test_module_docstring_names_every_command() -> None:
    import bridge.cli

    doc = bridge.cli.__doc__ or ""
    parsed = bridge.cli.parser()
    assert set(bridge.cli.EXAMPLES) == set(bridge.cli.COMMANDS)
    words = set(re.findall(r"[\w-]+", doc))
    missing = [name for name in bridge.cli.COMMANDS if name not in words]
    assert not missing, f"bridge/cli.py's docstring does not name {missing}"
    assert parsed.description == bridge.cli.DESCRIPTION


def test_check_warns_of_an_audit_file_every_user_may_read(conf: Path) -> None:
    audit = conf.parent / "audit.jsonl"
    with conf.open("a") as config:
        config.write("audit_log: audit.jsonl\n")
    assert "audit log" not in cli("check", "-c", str(conf)).stderr  # not there yet: created 0640
    audit.write_text("")
    audit.chmod(0o644)
    done = cli("check", "-c", str(conf))
    assert done.returncode == 0, done.stderr
    assert f"warning: {conf}:5: audit_log: the audit log {audit} has mode 0644: every user of " \
           f"this host may read it (it names users and client addresses): chmod o-rwx {audit}" \
           in done.stderr, done.stderr  # fmt: skip
    audit.chmod(0o640)
    assert "audit log" not in cli("check", "-c", str(conf)).stderr


def test_import_sql_exits_0_when_only_the_install_default_grant_is_skipped(tmp_path: Path) -> None:
    sql = tmp_path / "users.sql"
    sql.write_text("CREATE USER `root`@`localhost`\nGRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION\n")  # fmt: skip
    done = cli("import-sql", str(sql), "-o", str(tmp_path / "accounts.yaml"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(
        f"skipped: {sql}:2: GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION: "
    )
    assert "proxy_grants" not in (tmp_path / "accounts.yaml").read_text()
