"""The example files shipped in mappings/ and deploy/ load, and say what their comments say."""

import os
import shutil
from pathlib import Path

import pytest
import yaml

from bridge.backends.store import stored_hash
from bridge.config import load_config
from bridge.runtime import build_runtime, load_accounts

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("path", sorted((ROOT / "mappings").glob("*.yaml")), ids=lambda p: p.name)
def test_mapping_examples_load(path: Path) -> None:
    assert load_accounts((path,))[0]


def test_store_example_passwords_are_the_documented_ones() -> None:
    rows = {r.user: r for r in load_accounts((ROOT / "mappings" / "store-accounts.yaml",))[0]}
    for user, password in (("report", b"password"), ("app", b"hashcat"), ("batch", b"")):
        assert stored_hash(rows[user].plugin, rows[user].authentication_string).matches(password)


def test_deploy_example_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(ROOT / "deploy" / "examples" / "bridge.yaml")
    assert config.upstream.tls.mode == "preferred" and config.listen.unix is not None
    # The same files, rooted in a temp dir, build a whole runtime.
    text = (ROOT / "deploy" / "examples" / "bridge.yaml").read_text()
    data = yaml.safe_load(text)
    data.pop("tls")
    data["rsa"] = {"private_key": "k.pem", "public_key": "k.pub"}
    data["accounts"] = ["accounts.yaml"]
    (tmp_path / "bridge.yaml").write_text(yaml.safe_dump(data))
    shutil.copy(ROOT / "deploy" / "examples" / "accounts.yaml", tmp_path / "accounts.yaml")
    creds = tmp_path / "upstream-credentials.yaml"
    creds.write_text((ROOT / "deploy" / "examples" / "upstream-credentials.yaml").read_text()
                     .replace("/etc/mysql-auth-bridge/secrets/", str(tmp_path) + "/"))  # fmt: skip
    os.chmod(creds, 0o600)
    for name in ("app", "batch"):
        (tmp_path / name).write_text("secret\n")
        (tmp_path / name).chmod(0o640)  # group-readable secrets are accepted
    monkeypatch.setenv("REPORT_UPSTREAM_PASSWORD", "x")
    rt = build_runtime(tmp_path / "bridge.yaml")
    assert set(rt.credentials) == {"app", "report", "batch"}
    rows = {r.user: r for r in rt.accounts.rows}
    assert set(rows) == {"app", "", "batch"}
    app = stored_hash(rows["app"].plugin, rows["app"].authentication_string)
    assert not any(app.matches(p) for p in (b"", b"password", b"app", b"change-me"))


def test_ldap_groups_example_warns_only_as_its_comment_and_mapping_md_say() -> None:
    """The office-network row comes before the default proxy on purpose: `check` says so
    in one warning, the one docs/mapping.md quotes."""
    from types import SimpleNamespace

    from bridge.checks import _shadowed_default_proxy
    from bridge.mapping.accounts import AccountTable

    rows = load_accounts((ROOT / "mappings" / "ldap-groups.yaml",))[0]
    (warning,) = _shadowed_default_proxy(SimpleNamespace(accounts=AccountTable(rows)))  # type: ignore[arg-type]
    said = "clients from '10.%' match it first and never reach the default proxy (as in MySQL)"
    assert said in warning
    assert said in " ".join((ROOT / "docs" / "mapping.md").read_text().split())
    assert "drop it unless that is intended" in (ROOT / "mappings" / "ldap-groups.yaml").read_text()
