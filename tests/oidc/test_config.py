"""backends.oidc in bridge.yaml: what is refused, with the file, line and reason; and rows
that name a provider the configuration does not have."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.backends.oidc import OidcBackend
from bridge.config import ConfigError, load_config
from bridge.runtime import build_runtime

PROVIDER = "{name: corp, issuer: 'https://idp.example.test', audience: app}"


def files(tmp_path: Path, providers: str, auth: str = '{"identity_provider": "corp"}') -> Path:
    (tmp_path / "creds.yaml").write_text("alice: {password: pw}\n")
    os.chmod(tmp_path / "creds.yaml", 0o600)
    (tmp_path / "accounts.yaml").write_text(
        "accounts:\n  - {user: alice, plugin: authentication_openid_connect, "
        f"authentication_string: '{auth}'}}\n"
    )
    path = tmp_path / "bridge.yaml"
    path.write_text("upstream: {credentials: creds.yaml}\naccounts: [accounts.yaml]\n"
                    f"backends:\n  oidc:\n    providers: [{providers}]\n")  # fmt: skip
    return path


def test_a_provider_loads_with_its_defaults(tmp_path: Path) -> None:
    config = load_config(files(tmp_path, PROVIDER))
    assert config.backends.oidc is not None
    provider = config.backends.oidc.providers[0]
    assert provider.identity_claim == "sub" and provider.discovery and provider.clock_skew == 60
    assert "HS256" not in provider.algorithms and "RS256" in provider.algorithms
    rt = build_runtime(files(tmp_path, PROVIDER), inspect_only=True)
    assert isinstance(rt.backends["oidc"], OidcBackend)


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ("{name: corp, issuer: 'http://idp.example.test', audience: app}", "over https:// only"),
        (PROVIDER[:-1] + ", algorithms: [HS256]}", "algorithms"),
        (PROVIDER[:-1] + ", algorithms: [none]}", "algorithms"),
        (PROVIDER[:-1] + ", clock_skew: 3600}", "clock_skew"),
        (PROVIDER[:-1] + ", discovery: false}", "set jwks_uri, or leave discovery on"),
        (PROVIDER[:-1] + ", jwks_uri: 'http://idp/keys'}", "over https:// only"),
        (PROVIDER[:-1] + ", secret: x}", "secret"),
        (f"{PROVIDER}, {PROVIDER}", "provider names must be unique: corp"),
        ("{name: 'a b', issuer: 'https://x', audience: app}", "name"),
        (PROVIDER[:-1] + ", identity_claim: nickname}", "identity_claim"),
        (PROVIDER[:-1] + ", identity_claim: given_name}", "identity_claim"),
    ],
)
def test_refused_settings(tmp_path: Path, providers: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(files(tmp_path, providers))
    assert "bridge.yaml:" in str(caught.value)


def test_a_row_naming_an_unknown_provider(tmp_path: Path) -> None:
    path = files(tmp_path, PROVIDER, '{"identity_provider": "other"}')
    with pytest.raises(ConfigError, match=r"names identity_provider 'other', which backends\.oidc"):
        build_runtime(path, inspect_only=True)


def test_a_ca_that_cannot_be_read(tmp_path: Path) -> None:
    path = files(tmp_path, PROVIDER[:-1] + ", ca: missing-ca.crt}")
    with pytest.raises(ConfigError, match=r"backends\.oidc: cannot load a provider's ca"):
        build_runtime(path, inspect_only=True)
