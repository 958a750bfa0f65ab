"""Decoys for unknown users: stable per user@host, in the proportions of the real rows."""

import os
from collections import Counter
from pathlib import Path

from bridge.mapping.hosts import client_host
from bridge.runtime import Runtime, build_runtime
from sandbox.bridgeproc import hash_text


def runtime_with(tmp_path: Path, plugins: list[str]) -> Runtime:
    rows = "".join(
        f"  - {{user: u{i}, plugin: {p}, authentication_string: '{hash_text(p, 'pw')}'}}\n"
        for i, p in enumerate(plugins)
    )
    (tmp_path / "accounts.yaml").write_text("accounts:\n" + rows)
    (tmp_path / "creds.yaml").write_text("{}\n")
    os.chmod(tmp_path / "creds.yaml", 0o600)
    (tmp_path / "bridge.yaml").write_text(
        "upstream: {credentials: creds.yaml}\naccounts: [accounts.yaml]\n"
    )
    return build_runtime(tmp_path / "bridge.yaml")


def test_decoys_mirror_the_plugin_mix_and_are_stable(tmp_path: Path) -> None:
    rt = runtime_with(tmp_path, ["caching_sha2_password"] * 9 + ["mysql_native_password"])
    host = client_host("10.0.0.1", True)
    drawn = Counter(rt.decoy_for(f"ghost{i}", host).plugin for i in range(2000))
    assert 0.05 < drawn["mysql_native_password"] / 2000 < 0.15
    assert all(rt.decoy_for("ghost7", host) == rt.decoy_for("ghost7", host) for _ in range(5))


def test_decoy_hashes_match_no_password_and_survive_reload(tmp_path: Path) -> None:
    from bridge.backends.store import stored_hash

    rt = runtime_with(tmp_path, ["caching_sha2_password"])
    row = rt.decoy_for("ghost", client_host(None, True))
    assert not stored_hash(row.plugin, row.authentication_string).matches(b"pw")
    again = build_runtime(tmp_path / "bridge.yaml", rt)
    assert again.decoy_for("ghost", client_host(None, True)) == row
    assert again.store is rt.store  # the fast-auth cache carries over


def test_decoy_plugin_is_the_same_from_every_address(tmp_path: Path) -> None:
    rt = runtime_with(
        tmp_path, ["caching_sha2_password", "mysql_native_password", "sha256_password"]
    )
    hosts = [client_host(f"10.0.0.{i}", False) for i in range(1, 20)] + [client_host(None, True)]
    for n in range(50):
        assert len({rt.decoy_for(f"ghost{n}", host).plugin for host in hosts}) == 1


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    import pytest

    from bridge.config import ConfigError

    runtime_with(tmp_path, ["caching_sha2_password"])
    config = tmp_path / "bridge.yaml"
    original = config.read_bytes()
    for broken in (original + b"# caf\xe9\n", b"x: " + b"[" * 10_000 + b"]" * 10_000 + b"\n"):
        config.write_bytes(broken)
        with pytest.raises(ConfigError, match=str(config)):
            build_runtime(config)
