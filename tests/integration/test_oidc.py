"""OpenID Connect end to end, against a real provider (npm's oidc-provider over HTTPS with
the test CA, tokens from its own authorization code flow and token endpoint): MySQL's
client plugin (Connector/Python's openid_token_file), tokens as passwords (the mariadb
CLI, PyMySQL), group mapping through the anonymous row, every forgery and mistake refused
with 1045 and a reason in the log, key rotation without a restart, and a provider that is
down (cached keys keep working; no key known is an outage)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.protocol.packets import parse_err
from sandbox.bridgeproc import Account
from sandbox.certs import CertSet, make_certs
from sandbox.mariadb import MariaDB
from sandbox.oidc import OTHER_CLIENT, OidcProvider, rsa_jwk
from sandbox.ports import free_port
from tests.integration.harness import (
    Bridge,
    closing,
    connect,
    error_of,
    mariadb_cli,
    scalar,
    start_bridge,
)
from tests.integration.rawclient import Raw
from tests.integration.test_metrics import scrape, value
from tests.oidcfix import hs256_with_public_key, sign, tampered, unsigned

pytestmark = pytest.mark.integration

MANY_GROUPS = [f"project-{n:03d}-readers" for n in range(60)]  # a token well over 1 KB
PEOPLE: dict[str, dict[str, Any]] = {
    "alice": {"preferred_username": "alice", "email": "alice@example.test", "groups": ["staff"]},
    "bob": {"preferred_username": "bob", "groups": ["dba", *MANY_GROUPS]},
    "carol": {"preferred_username": "carol", "groups": ["developers"]},
    "dave-subject-7f3a": {"preferred_username": "dave"},
    # picked dave's subject (not a secret) as her user name, where the provider allows it
    "mallory-subject-0c1d": {"preferred_username": "dave-subject-7f3a"},
}


def _row(account: str, **auth: str) -> Account:
    return Account(account, "", "authentication_openid_connect", upstream_password=f"up-{account}" if account else "",
                   auth_string=json.dumps(auth))  # fmt: skip


ACCOUNTS = [
    Account("app", "app-pw", "caching_sha2_password", upstream_password="up-app"),
    _row("alice", identity_provider="corp"),  # the token's preferred_username must be 'alice'
    _row("dave", identity_provider="mysql", user="dave-subject-7f3a"),  # MySQL's syntax: sub
    # "user" is sub even with a provider whose identity_claim is preferred_username
    _row("dave2", identity_provider="corp", user="dave-subject-7f3a"),
    _row("", identity_provider="corp", mapping="developers=developer,dba=dba_role"),
]


def _providers(idp: OidcProvider, ca: Path) -> dict[str, Any]:
    common = {"issuer": idp.issuer, "audience": "mysql-bridge", "ca": str(ca),
              "jwks_refresh_interval": 1}  # fmt: skip
    return {"oidc": {"providers": [
        {"name": "corp", **common, "identity_claim": "preferred_username", "groups_claim": "groups"},
        {"name": "mysql", **common},  # MySQL's default: the identity is "sub"
    ]}}  # fmt: skip


def _start(directory: Path, mariadb: MariaDB, certs: CertSet, idp: OidcProvider,
           provider_ca: Path | None = None, **sections: Any) -> Bridge:  # fmt: skip
    for user in ("app", "alice", "dave", "dave2", "developer", "dba_role"):
        mariadb.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'up-{user}'")
        mariadb.sql(f"GRANT SELECT ON *.* TO '{user}'@'%'")
    return start_bridge(directory, mariadb, certs, ACCOUNTS,
                        upstream_only={"developer": "up-developer", "dba_role": "up-dba_role"},
                        proxy_grants=[{"proxy": "''@'%'", "proxied": ["'developer'@'%'", "'dba_role'@'%'"]}],
                        backends=_providers(idp, provider_ca or certs.ca),
                        server={"allow_insecure_cleartext": True}, **sections)  # fmt: skip


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> Iterator[OidcProvider]:
    provider = OidcProvider.start(tmp_path_factory.mktemp("idp"), certs, PEOPLE)
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def oidc_bridge(
    tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB, certs: CertSet, idp: OidcProvider
) -> Iterator[Bridge]:
    bridge = _start(tmp_path_factory.mktemp("oidc-bridge"), mariadb, certs, idp)
    yield bridge
    bridge.stop()


def token_file(directory: Path, token: str) -> str:
    path = directory / "id_token.jwt"
    path.write_text(token + "\n")
    return str(path)


def current_user_via_token_file(bridge: Bridge, user: str, token: str, directory: Path) -> str:
    """Connector/Python (pure) with openid_token_file, no password: MySQL's exchange."""
    with closing(
        connect("connector", bridge, user, "", openid_token_file=token_file(directory, token))
    ) as conn:
        return str(scalar(conn, "SELECT CURRENT_USER()"))


# --- logins that land ------------------------------------------------------------------------


def test_connector_openid_token_file(
    oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path
) -> None:
    token = idp.id_token("alice")
    assert current_user_via_token_file(oidc_bridge, "alice", token, tmp_path) == "alice@%"
    assert "method=authentication_openid_connect_client backend=oidc" in oidc_bridge.log


def test_connector_mysql_style_row_by_subject(
    oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path
) -> None:
    token = idp.id_token("dave-subject-7f3a")
    assert current_user_via_token_file(oidc_bridge, "dave", token, tmp_path) == "dave@%"


def test_row_user_is_the_subject_whatever_the_identity_claim(
    oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path
) -> None:
    """On a provider with identity_claim: preferred_username, a row's "user" is still the
    token's sub (MySQL's meaning): dave logs in; mallory, whose preferred_username is
    dave's subject, does not."""
    dave = idp.id_token("dave-subject-7f3a")
    assert current_user_via_token_file(oidc_bridge, "dave2", dave, tmp_path) == "dave2@%"
    with pytest.raises(Exception) as caught:
        current_user_via_token_file(
            oidc_bridge, "dave2", idp.id_token("mallory-subject-0c1d"), tmp_path
        )
    assert error_of(caught.value)[0] == 1045
    oidc_bridge.wait_log("reason=token's claim 'sub' is 'mallory-subject-0c1d', but the row's")


def test_mariadb_cli_token_as_password(oidc_bridge: Bridge, idp: OidcProvider) -> None:
    token = idp.id_token("alice")
    done = mariadb_cli(oidc_bridge, "alice", token)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "alice@%"


def test_big_token_as_password_maps_by_group(oidc_bridge: Bridge, idp: OidcProvider) -> None:
    token = idp.id_token("bob")
    assert len(token) > 2048  # a 3-byte length in every packet that carries it
    done = mariadb_cli(oidc_bridge, "bob", token)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dba_role@%"


def test_pymysql_token_as_password_through_the_anonymous_row(
    oidc_bridge: Bridge, idp: OidcProvider
) -> None:
    with closing(connect("pymysql", oidc_bridge, "carol", idp.id_token("carol"))) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"
    assert "user='carol' row=''@'%' method=caching_sha2_password backend=oidc" in oidc_bridge.log


@pytest.mark.parametrize(
    "method", ["caching_sha2_password", "sha256_password", "mysql_clear_password"]
)
def test_token_as_password_with_each_password_method(
    oidc_bridge: Bridge, idp: OidcProvider, method: str
) -> None:
    """Connector/Python opening with each password method: the row keeps it, the token is
    the password (a 2 KB+ one, over TLS)."""
    with closing(
        connect("connector", oidc_bridge, "bob", idp.id_token("bob"), auth_plugin=method)
    ) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "dba_role@%"
    oidc_bridge.wait_log(f"user='bob' row=''@'%' method={method} backend=oidc")


def test_mysqlclient_token_as_password(oidc_bridge: Bridge, idp: OidcProvider) -> None:
    with closing(connect("mysqlclient", oidc_bridge, "alice", idp.id_token("alice"))) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "alice@%"


def test_connector_opening_with_the_plugin(
    oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path
) -> None:
    """auth_plugin='authentication_openid_connect_client': the token rides in the handshake
    response itself (a 2 KB+ length-encoded auth response), no switch."""
    path = token_file(tmp_path, idp.id_token("bob"))
    conn = connect("connector", oidc_bridge, "bob", "", openid_token_file=path,
                   auth_plugin="authentication_openid_connect_client")  # fmt: skip
    with closing(conn):
        assert scalar(conn, "SELECT CURRENT_USER()") == "dba_role@%"


def test_change_user_with_a_token_as_password(
    oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path
) -> None:
    """COM_CHANGE_USER to an OpenID Connect row: the token as the password (caching_sha2
    full authentication over TLS)."""
    with closing(connect("connector", oidc_bridge, "app", "app-pw")) as conn:
        assert scalar(conn, "SELECT CURRENT_USER()") == "app@%"
        conn.cmd_change_user(username="carol", password=idp.id_token("carol"))
        assert scalar(conn, "SELECT CURRENT_USER()") == "developer@%"


@pytest.mark.parametrize(
    ("client", "method"),
    # (Connector/Python itself refuses sha256_password and mysql_clear_password without TLS)
    [("connector", "caching_sha2_password"), ("pymysql", None), ("mysqlclient", None)],
)  # fmt: skip
def test_no_token_over_plain_tcp(
    oidc_bridge: Bridge, idp: OidcProvider, client: str, method: str | None
) -> None:
    """A token is a bearer credential: over plain TCP, 3159 before the client is asked for
    it, although this bridge has allow_insecure_cleartext on and RSA could carry a short
    token."""
    extra = {} if method is None else {"auth_plugin": method}
    token = idp.id_token("alice")
    with pytest.raises(Exception) as caught:
        connect(client, oidc_bridge, "alice", token, "tcp", **extra).close()
    errno, message = error_of(caught.value)
    assert errno == 3159 and "insecure transport" in message
    assert token not in oidc_bridge.log


def _raw_clear_login(port: int, user: str, password: bytes) -> bytes:
    raw = Raw.connect(port)
    raw.greeting()
    raw.hello(user, password + b"\0", "mysql_clear_password")
    payload = raw.read()[1]
    raw.close()
    return payload


def test_no_clear_token_over_plain_tcp_even_when_allowed(
    oidc_bridge: Bridge, idp: OidcProvider
) -> None:
    """allow_insecure_cleartext is on: a stored-hash row takes mysql_clear_password over
    plain TCP, an OpenID Connect row still refuses (3159) without reading the token."""
    assert _raw_clear_login(oidc_bridge.port, "app", b"app-pw")[0] == 0x00  # OK
    refused = _raw_clear_login(oidc_bridge.port, "alice", idp.id_token("alice").encode())
    assert refused[0] == 0xFF and parse_err(refused).errno == 3159


def test_no_token_file_over_plain_tcp(
    oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path
) -> None:
    path = token_file(tmp_path, idp.id_token("alice"))
    with pytest.raises(Exception) as caught:
        connect("connector", oidc_bridge, "alice", "", "tcp", openid_token_file=path).close()
    assert error_of(caught.value)[0] == 3159


def test_token_over_the_unix_socket(oidc_bridge: Bridge, idp: OidcProvider) -> None:
    with closing(connect("pymysql", oidc_bridge, "alice", idp.id_token("alice"), "socket")) as c:
        assert scalar(c, "SELECT CURRENT_USER()") == "alice@%"


def test_big_token_through_the_client_plugin(
    oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path
) -> None:
    assert (
        current_user_via_token_file(oidc_bridge, "bob", idp.id_token("bob"), tmp_path)
        == "dba_role@%"
    )


# --- the command line: explain with a token, check --online ------------------------------------


def cli(bridge: Bridge, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", *args, "-c", str(bridge.config)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_explain_with_a_token_file(oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path) -> None:
    token = idp.id_token("carol")
    done = cli(oidc_bridge, "explain", "carol", "--host", "127.0.0.1",
               "--token-file", token_file(tmp_path, token))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "identity: claim 'preferred_username' = 'carol' matches the user name the client sent"
        in done.stdout
    )
    assert "groups (claim 'groups'): developers" in done.stdout
    assert "account: 'developer'@'%' (proxied)" in done.stdout
    assert token not in done.stdout + done.stderr
    forged = tampered(token, groups=["dba"])
    refused = cli(oidc_bridge, "explain", "carol", "--host", "127.0.0.1",
                  "--token-file", token_file(tmp_path, forged))  # fmt: skip
    assert refused.returncode == 1 and "token refused: bad signature" in refused.stderr


def test_sandbox_token_command(oidc_bridge: Bridge, idp: OidcProvider) -> None:
    """The command the demo prints for a fresh token: its output is a token that logs in."""
    done = subprocess.run([sys.executable, "-m", "sandbox.oidc", idp.issuer, str(idp.certs.ca), "alice"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    login = mariadb_cli(oidc_bridge, "alice", done.stdout.strip())
    assert login.returncode == 0 and login.stdout.strip() == "alice@%", login.stderr


def test_check_online_fetches_the_keys(oidc_bridge: Bridge, idp: OidcProvider) -> None:
    done = cli(oidc_bridge, "check", "--online")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"OpenID provider 'corp': 1 signing key(s) from {idp.issuer}/jwks"
        in done.stdout + done.stderr
    )


# --- refusals: 1045, and the reason in the log ------------------------------------------------


def _claims(idp: OidcProvider, sub: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": idp.issuer, "aud": "mysql-bridge", "sub": sub, "preferred_username": sub,
            "iat": now, "exp": now + 600, **changes}  # fmt: skip


FORGERIES: dict[str, tuple[Callable[[OidcProvider], str], str]] = {
    "expired": (
        lambda idp: sign(
            _claims(idp, "alice", iat=int(time.time()) - 4000, exp=int(time.time()) - 3000),
            idp.keys[0],
        ),
        "token expired",
    ),
    # a token the real provider issued to another client: what it is for, and what is taken
    "wrong-audience": (
        lambda idp: idp.id_token("alice", client_id=OTHER_CLIENT),
        f'wrong audience: the token is for "{OTHER_CLIENT}", the provider takes "mysql-bridge" '
        "(a token of another application?)",
    ),
    "wrong-issuer": (
        lambda idp: sign(_claims(idp, "alice", iss="https://127.0.0.1:1"), idp.keys[0]),
        'wrong issuer: the token is from "https://127.0.0.1:1", the provider is "https://127.0.0.1:',
    ),
    "tampered": (
        lambda idp: tampered(idp.id_token("carol"), preferred_username="alice"),
        "bad signature",
    ),
    "alg-none": (
        lambda idp: unsigned(_claims(idp, "alice"), idp.keys[0]["kid"], "c2ln"),
        "algorithm 'none' is not allowed",
    ),
    "hs256-public-key": (
        lambda idp: hs256_with_public_key(_claims(idp, "alice"), idp.keys[0]),
        "algorithm 'HS256' is not allowed",
    ),
    "unknown-kid": (
        lambda idp: sign(_claims(idp, "alice"), rsa_jwk("rogue-key")),
        "unknown key id 'rogue-key'",
    ),
    "someone-else": (
        lambda idp: idp.id_token("carol"),
        "token's claim 'preferred_username' is 'carol'",
    ),
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
@pytest.mark.parametrize("client", ["connector", "pymysql"])
def test_refused_with_1045_and_a_reason(oidc_bridge: Bridge, idp: OidcProvider, tmp_path: Path,
                                        case: str, client: str) -> None:  # fmt: skip
    make, reason = FORGERIES[case]
    token = make(idp)
    with pytest.raises(Exception) as caught:
        if client == "connector":
            current_user_via_token_file(oidc_bridge, "alice", token, tmp_path)
        else:
            connect("pymysql", oidc_bridge, "alice", token).close()
    errno, message = error_of(caught.value)
    assert errno == 1045 and "Access denied for user 'alice'" in message
    oidc_bridge.wait_log(f"reason={reason}")
    signature = token.rsplit(".", 1)[1]
    assert token not in oidc_bridge.log and signature not in oidc_bridge.log  # no secret logged


def test_mariadb_cli_refused_token(oidc_bridge: Bridge, idp: OidcProvider) -> None:
    token = tampered(idp.id_token("alice"), preferred_username="root")
    done = mariadb_cli(oidc_bridge, "alice", token)
    assert done.returncode != 0 and "ERROR 1045" in done.stderr


# --- the provider's keys: rotation, outage ----------------------------------------------------


def test_rotation_and_outage(tmp_path: Path, mariadb: MariaDB, certs: CertSet) -> None:
    """A rotated key is fetched on its first token, without a restart; with the provider
    stopped, cached keys keep working; a bridge that never saw a key has an outage."""
    idp = OidcProvider.start(tmp_path / "idp", certs, PEOPLE)
    metrics = free_port()
    bridge = _start(tmp_path / "bridge", mariadb, certs, idp,
                    metrics={"listen": f"127.0.0.1:{metrics}"})  # fmt: skip
    try:
        first = idp.id_token("alice")
        assert current_user_via_token_file(bridge, "alice", first, tmp_path) == "alice@%"
        age = value(scrape(metrics, "/metrics")[1], "mysql_auth_bridge_oidc_keys_age_seconds")
        assert 0 < age < 60  # the keys just fetched for that login
        time.sleep(1.2)  # past jwks_refresh_interval
        idp.rotate(rsa_jwk("key-2"))
        second = idp.id_token("alice")
        assert json.loads(_part(second, 0))["kid"] == "key-2"
        assert current_user_via_token_file(bridge, "alice", second, tmp_path) == "alice@%"
        bridge.wait_log("new signing keys ['key-2']")
        idp.stop()
        time.sleep(1.2)
        for token in (first, second):  # old and new key, from the cache
            assert current_user_via_token_file(bridge, "alice", token, tmp_path) == "alice@%"
        with pytest.raises(Exception) as caught:
            current_user_via_token_file(
                bridge, "alice", sign(_claims(idp, "alice"), rsa_jwk("k3")), tmp_path
            )
        assert error_of(caught.value)[0] == 1045
        bridge.wait_log("cannot fetch its keys")
    finally:
        bridge.stop()
    fresh = _start(tmp_path / "fresh", mariadb, certs, idp)  # the provider is still down
    try:
        with pytest.raises(Exception) as caught:
            current_user_via_token_file(fresh, "alice", first, tmp_path)
        assert error_of(caught.value)[0] == 1045
        fresh.wait_log(
            f"backend outage for 'alice': OpenID provider corp: cannot fetch its keys: "
            f"{idp.issuer}/.well-known/openid-configuration: connection refused\n"
        )
    finally:
        fresh.stop()
        idp.stop()


def test_a_provider_certificate_of_another_ca_is_named(
    tmp_path: Path, mariadb: MariaDB, certs: CertSet, idp: OidcProvider
) -> None:
    """`ca` that did not sign the provider's certificate: the outage says so in words (in
    the log and in check --online), not as urllib's '<urlopen error ...>'."""
    bridge = _start(tmp_path / "bridge", mariadb, certs, idp, make_certs(tmp_path / "other").ca)
    try:
        with pytest.raises(Exception) as caught:
            current_user_via_token_file(bridge, "alice", idp.id_token("alice"), tmp_path)
        assert error_of(caught.value)[0] == 1045
        # (the detail is OpenSSL's: the two test CAs share a name, so 'signature failure')
        why = (
            rf"{re.escape(idp.issuer)}/\.well-known/openid-configuration: TLS certificate "
            r"verify failed \([a-z ]+\): check the provider's ca and the issuer's host name\n"
        )
        bridge.wait_log("backend outage for 'alice'")
        assert re.search(f"backend outage for 'alice': OpenID provider corp: cannot fetch its "
                         f"keys: {why}", bridge.log), bridge.log  # fmt: skip
        done = cli(bridge, "check", "--online")
        assert done.returncode == 1
        assert re.search(f"error: backends.oidc: OpenID provider corp: cannot fetch its keys: "
                         f"{why}", done.stderr), done.stderr  # fmt: skip
        assert "urlopen" not in bridge.log + done.stderr
        assert "WARNING" not in done.stderr  # the failure once, as check's error
    finally:
        bridge.stop()


def _part(token: str, n: int) -> bytes:
    import base64

    part = token.split(".")[n]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
