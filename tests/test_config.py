"""The YAML contract: validated, frozen, unknown keys refused, errors that point at lines."""

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import ConfigError, key_path, load_config, load_credentials
from bridge.runtime import build_runtime, load_accounts
from bridge.yamlfile import Mark

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
        config.server.max_connections = 1  # type: ignore[misc]  # the frozen field is the test
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


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o666])
def test_credentials_readable_by_others_or_writable_by_the_group_are_refused(
    conf: Path, mode: int
) -> None:
    os.chmod(conf.parent / "creds.yaml", mode)
    with pytest.raises(ConfigError, match=f"is mode {mode:04o}; it must be 0600, or 0640"):
        build_runtime(conf)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400, 0o440])
def test_credentials_owner_only_or_group_readable_are_accepted(conf: Path, mode: int) -> None:
    os.chmod(conf.parent / "creds.yaml", mode)
    assert build_runtime(conf).credentials == {"app": b"pw"}


def test_a_password_file_follows_the_same_rule(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret", "from-file\n", 0o644)
    creds = write(tmp_path / "c.yaml", "a: {password_file: secret}\n", 0o600)
    with pytest.raises(
        ConfigError, match=r"c.yaml:1: a: .*secret: holds a secret and is mode 0644"
    ):
        load_credentials(creds)
    os.chmod(secret, 0o640)
    assert load_credentials(creds) == {"a": b"from-file"}


@pytest.mark.parametrize("key", ["no", "null", "0x1F", "1000"])
def test_a_credentials_name_yaml_reads_as_no_text_is_refused_not_guessed(
    tmp_path: Path, key: str
) -> None:
    creds = write(tmp_path / "c.yaml", f"ok: {{password: a}}\n{key}: {{password: b}}\n", 0o600)
    with pytest.raises(ConfigError, match=r"c.yaml:2: the account name .* put it in quotes"):
        load_credentials(creds)
    write(tmp_path / "c.yaml", f'ok: {{password: a}}\n"{key}": {{password: b}}\n', 0o600)
    assert load_credentials(creds) == {"ok": b"a", key: b"b"}


def test_a_missing_key_is_named_at_the_line_of_the_item_it_is_missing_from(
    tmp_path: Path,
) -> None:
    accounts = write(tmp_path / "a.yaml", "accounts:\n  - {user: a, host: '%', plugin: x}\n"
                     "proxy_grants:\n  - {proxy: \"'a'@'%'\", proxied: [\"'b'@'%'\"]}\n"
                     "  - {proxied: [\"'b'@'%'\"]}\n")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_accounts((accounts,))
    assert f"{accounts}:5: proxy_grants[1].proxy: missing (required)" in str(caught.value)


def test_unknown_key_suggests_the_key_meant(conf: Path) -> None:
    write(conf, "upstream: {adress: 'db:3306', credentials: creds.yaml, tls: {mod: required}}\n"
                "lgo: {level: info}\nlisten: {tcp: ['127.0.0.1:1'], unixx: /tmp/x}\n")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_config(conf)
    lines = set(str(caught.value).splitlines())
    assert f"{conf}:1: upstream.adress: unknown key; did you mean `address`?" in lines
    assert f"{conf}:1: upstream.tls.mod: unknown key; did you mean `mode`?" in lines
    assert f"{conf}:2: lgo: unknown key; did you mean `log`?" in lines
    assert f"{conf}:3: listen.unixx: unknown key; did you mean `unix`?" in lines
    write(conf, "upstream: {credentials: creds.yaml}\nfrobnicate: 1\n")
    with pytest.raises(ConfigError, match=r"frobnicate: unknown key$"):
        load_config(conf)


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


def test_every_bad_credentials_entry_is_reported_in_one_run(tmp_path: Path) -> None:
    creds = write(tmp_path / "c.yaml", "good: {password: g}\nboth: {password: x, password_env: Y}\n"
                  "none: {}\ntypo: {pasword: x}\nunset: {password_env: NOT_SET_ANYWHERE}\n"
                  "missing: {password_file: no-such-file}\n", 0o600)  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_credentials(creds)
    lines = str(caught.value).splitlines()
    for line_no, name in ((2, "both"), (3, "none"), (4, "typo"), (5, "unset"), (6, "missing")):
        assert any(line.startswith(f"{creds}:{line_no}: {name}") for line in lines), (name, lines)
    assert not any("good" in line for line in lines)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{user: a, plugin: parsec}", "plugin 'parsec' is not loaded"),
        ("{user: a, plugin: ed25519, authentication_string: 'short'}", "43 base64"),
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
        load_accounts((accounts,))
    assert f"{accounts}:3: accounts[1]" in str(err.value)


@pytest.mark.parametrize(
    ("loc", "key"),
    [
        (("accounts", 3, "host"), "accounts[3].host"),
        (("listen", "tcp", 0), "listen.tcp[0]"),
        (("backends", "oidc", "providers", 1, "issuer"), "backends.oidc.providers[1].issuer"),
        (("proxy_grants", 0, "proxied", 2), "proxy_grants[0].proxied[2]"),
        ((), ""),
    ],
)
def test_key_paths_are_written_one_way(loc: tuple[int | str, ...], key: str) -> None:
    assert key_path(loc) == key


def test_every_error_names_list_items_in_brackets(tmp_path: Path) -> None:
    """Schema errors (pydantic), row checks (runtime) and preflight write a key path the
    same way, as docs/configuration.md shows it: never `accounts.1.host`."""
    bad_rows = write(tmp_path / "a.yaml", "accounts:\n  - {user: ok, plugin: mysql_native_password}\n"
                     "  - {user: b, plugin: mysql_native_password, hots: x}\n")  # fmt: skip
    bad_hash = write(tmp_path / "b.yaml", "accounts:\n  - {user: ok, plugin: mysql_native_password}\n"
                     "  - {user: b, plugin: mysql_native_password, authentication_string: x}\n"
                     "proxy_grants:\n  - {proxy: \"'ok\", proxied: [\"'x'@'%'\"]}\n")  # fmt: skip
    config = write(tmp_path / "bridge.yaml", "upstream: {credentials: c.yaml}\n"
                   "listen: {tcp: ['127.0.0.1:1', 'nope']}\n"
                   "backends: {oidc: {providers: [{name: a, issuer: 'http://x', audience: b}]}}\n")  # fmt: skip
    lines = []
    for load in (lambda: load_accounts((bad_rows,)), lambda: load_accounts((bad_hash,)),
                 lambda: load_config(config)):  # fmt: skip
        with pytest.raises(ConfigError) as err:
            load()
        lines += str(err.value).splitlines()
    keys = [line.split(": ")[1] for line in lines]
    assert "accounts[1].hots" in keys and "accounts[1]" in keys and "proxy_grants[0]" in keys
    assert "listen.tcp[1]" in keys and any(k.startswith("backends.oidc.providers[0]") for k in keys)
    assert not [k for k in keys if re.search(r"\.\d", k)], lines


def test_duplicate_account(tmp_path: Path) -> None:
    accounts = write(tmp_path / "a.yaml", "accounts:\n  - {user: a, host: '%', plugin: mysql_native_password}\n"
                     "  - {user: a, host: '%', plugin: caching_sha2_password}\n")  # fmt: skip
    with pytest.raises(ConfigError, match="is also in"):
        load_accounts((accounts,))


def test_hex_authentication_string_keeps_raw_salt_bytes(tmp_path: Path) -> None:
    raw = "24412430303524f9cc98ce08892924f50a213b6bc571a2c11778c5625479393559393965414d45316477456b484f41316e64484742577a2e3162785353526b7554584647562f"
    accounts = write(
        tmp_path / "a.yaml",
        f"accounts:\n  - {{user: h, plugin: caching_sha2_password, authentication_string: '0x{raw}'}}\n",
    )
    (row,) = load_accounts((accounts,))[0]
    assert row.authentication_string == bytes.fromhex(raw)


def test_one_parse_gives_the_data_yaml_safe_load_gives(tmp_path: Path) -> None:

    from bridge.config import read_yaml
    from bridge.yamlfile import key_line

    text = (
        "base: &base {plugin: mysql_native_password, n: 3, on: yes, f: 1.5, none: ~}\n"
        "list: [a, 'b', 0x1F, 2026-01-01, !!binary aGk=]\n"
        "merged:\n  <<: *base\n  user: x\n"
        "alias: *base\n"
        "'quoted key': {nested: [[1, 2], {k: v}]}\n"
        "dup: 1\ndup: 2\n"
    )
    path = write(tmp_path / "x.yaml", text)
    data, root = read_yaml(path)
    assert data == yaml.safe_load(text)
    assert key_line(root, "list") == 1  # 'list' on line 2


def test_unhashable_key_is_a_yaml_error(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "? [a, b]\n: 1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_every_row_of_a_large_file_knows_its_line(tmp_path: Path) -> None:
    rows = "".join(f"  - user: u{i}\n    plugin: mysql_native_password\n" for i in range(3000))
    accounts = write(tmp_path / "a.yaml", f"accounts:\n{rows}")
    loaded = {r.user: r.source for r in load_accounts((accounts,))[0]}
    assert loaded["u0"] == f"{accounts}:2"
    assert loaded["u2999"] == f"{accounts}:{2 + 2 * 2999}"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [("a: *nowhere\n", "undefined alias", 1), ("a: 1\n---\nb: 2\n", "single document", 2),
     ("a: &x 1\nb: &x 2\n", "duplicate anchor", 2)],
)  # fmt: skip
def test_yaml_the_composer_refuses(conf: Path, text: str, message: str, line: int) -> None:
    write(conf, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(conf)
    assert str(err.value).startswith(f"{conf}:{line}: not valid YAML")


@pytest.mark.parametrize(
    ("text", "said"),
    [('accounts:\n  - {user: x, host: "%"\n',
      "3: not valid YAML: did not find expected ',' or '}' (column 1; while parsing a flow "
      "mapping at line 2, column 5)"),
     ("upstream:\n  address: x\n\tcredentials: y\n",
      "3: not valid YAML: found a tab character that violates indentation (column 1; "
            "while scanning a plain scalar at line 2, column 12)"),
     ('a: "x\n', "2: not valid YAML: found unexpected end of stream (column 1; while "
      "scanning a quoted scalar at line 1, column 4)"),
     ("a:\n- 1\n b: 2\n", "3: not valid YAML: mapping values are not allowed in this "
      "context (column 3)")],
)  # fmt: skip
def test_a_yaml_syntax_error_is_one_line_at_the_problems_line(
    conf: Path, text: str, said: str
) -> None:
    """As every other error: `file:line: ...` on one line, never PyYAML's lines about a
    `<unicode string>` (which check counted as one error each)."""
    write(conf, text)
    with pytest.raises(ConfigError) as err:
        load_config(conf)
    assert str(err.value) == f"{conf}:{said}"


def test_check_parses_each_file_once(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge import config as config_module
    from bridge.checks import inspect_all

    parsed: list[str] = []
    real = config_module._parse

    def counting(text: str) -> tuple[Any, Mark | None]:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(config_module, "_parse", counting)
    runtime, found = inspect_all(conf, frozenset({"ports"}))
    assert runtime is not None, found.errors
    assert len(parsed) == len(set(parsed))  # no file's text parsed twice
    assert any("accounts:" in text for text in parsed)
