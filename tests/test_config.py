"""The YAML contract: validated, frozen, unknown keys refused, errors that point at lines."""

import os
from pathlib import Path

import pytest

from bridge.config import ConfigError, load_config, load_credentials
from bridge.runtime import build_runtime, load_rows

NATIVE = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    write(tmp_path / "creds.yaml", "app: {password: pw}\n", 0o600)
    write(
        tmp_path / "accounts.yaml",
        f"accounts:\n  - {{user: app, plugin: mysql_native_password, authentication_string: '{NATIVE}'}}\n",
    )
    return write(
        tmp_path / "bridge.yaml", "upstream: {credentials: creds.yaml}\naccounts: [accounts.yaml]\n"
    )


def test_minimal_config_and_defaults(conf: Path) -> None:
    config = load_config(conf)
    assert config.listen.tcp == ("127.0.0.1:3307",)
    assert config.server.default_auth_plugin == "caching_sha2_password"
    assert config.upstream.credentials == conf.parent / "creds.yaml"  # relative to the file
    with pytest.raises(Exception):  # frozen
        config.server.max_connections = 1  # type: ignore[misc]
    rt = build_runtime(conf)
    assert rt.accounts.rows[0].user == "app" and rt.credentials == {"app": b"pw"}


def test_unknown_key_names_file_line_and_key(conf: Path) -> None:
    write(conf, "upstream: {credentials: creds.yaml}\nserver:\n  max_conections: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(conf)
    assert f"{conf}:3: server.max_conections: unknown key" in str(err.value)


def test_wrong_type_is_explained(conf: Path) -> None:
    write(conf, "upstream: {credentials: creds.yaml, address: 'nowhere'}\n")
    with pytest.raises(ConfigError, match=r"upstream.address: 'nowhere' is not 'host:port'"):
        load_config(conf)


def test_broken_yaml(conf: Path) -> None:
    write(conf, "upstream: {credentials: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(conf)


def test_credentials_must_be_private(conf: Path) -> None:
    os.chmod(conf.parent / "creds.yaml", 0o644)
    with pytest.raises(ConfigError, match="must be 0600 or stricter"):
        build_runtime(conf)


def test_credentials_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "secret", "from-file\n", 0o600)
    monkeypatch.setenv("DATA_ENTRY_PASSWORD", "from-env")
    creds = write(tmp_path / "c.yaml", "a: {password_file: secret}\nb: {password_env: DATA_ENTRY_PASSWORD}\n"
                  "c: {password: ''}\n", 0o600)  # fmt: skip
    assert load_credentials(creds) == {"a": b"from-file", "b": b"from-env", "c": b""}
    write(creds, "a: {password: x, password_env: Y}\n", 0o600)
    with pytest.raises(ConfigError, match="exactly one"):
        load_credentials(creds)
    write(creds, "a: {password_env: NOT_SET_ANYWHERE}\n", 0o600)
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE is not set"):
        load_credentials(creds)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{user: a, plugin: ed25519}", "plugin 'ed25519' is not loaded"),
        (
            "{user: a, plugin: mysql_native_password, authentication_string: 'nope'}",
            "'*' and 40 hex",
        ),
        (
            "{user: a, plugin: caching_sha2_password, authentication_string: '$A$005$x'}",
            r"'\$A\$NNN\$'",
        ),
        ("{user: a, host: '10.0.0.1/8', plugin: mysql_native_password}", "netmask"),
        ("{user: a, plugin: caching_sha2_password, authentication_string: '0xZZ'}", "hex digits"),
        ("{user: a, plugin: mysql_native_password, pasword: x}", "unknown key"),
    ],
)
def test_bad_account_rows(tmp_path: Path, entry: str, message: str) -> None:
    accounts = write(
        tmp_path / "a.yaml",
        f"accounts:\n  - {{user: ok, plugin: mysql_native_password}}\n  - {entry}\n",
    )
    with pytest.raises(ConfigError, match=message) as err:
        load_rows((accounts,))
    assert f"{accounts}:3" in str(err.value)


def test_duplicate_account(tmp_path: Path) -> None:
    accounts = write(tmp_path / "a.yaml", "accounts:\n  - {user: a, host: '%', plugin: mysql_native_password}\n"
                     "  - {user: a, host: '%', plugin: caching_sha2_password}\n")  # fmt: skip
    with pytest.raises(ConfigError, match="is also in"):
        load_rows((accounts,))


def test_hex_authentication_string_keeps_raw_salt_bytes(tmp_path: Path) -> None:
    raw = "24412430303524f9cc98ce08892924f50a213b6bc571a2c11778c5625479393559393965414d45316477456b484f41316e64484742577a2e3162785353526b7554584647562f"
    accounts = write(
        tmp_path / "a.yaml",
        f"accounts:\n  - {{user: h, plugin: caching_sha2_password, authentication_string: '0x{raw}'}}\n",
    )
    (row,) = load_rows((accounts,))
    assert row.authentication_string == bytes.fromhex(raw)
