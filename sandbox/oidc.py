"""A throwaway OpenID Connect provider: npm's oidc-provider (tests/node/oidc_provider.mjs)
over HTTPS on loopback with the test CA's certificate, signing with keys made here (so a
test can rotate them), and a client for it that logs a user in through the authorization
code flow, the way a browser would, and returns the ID token from its token endpoint."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import secrets
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sandbox.certs import CertSet
from sandbox.ports import free_port, port_open, wait_until

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "node" / "oidc_provider.mjs"
REDIRECT = "https://127.0.0.1/callback"  # never visited: the code is read off the redirect
CLIENT_ID, CLIENT_SECRET = "mysql-bridge", "bridge-client-secret"
OTHER_CLIENT = "other-app"  # a second client: its tokens have another audience
PRIVATE_FIELDS = ("d", "p", "q", "dp", "dq", "qi")


def rsa_jwk(kid: str) -> dict[str, Any]:
    """A private RSA-2048 signing key as a JWK."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k not in PRIVATE_FIELDS}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 30x comes back as an HTTPError: the flow follows it by hand


@dataclass
class OidcProvider:
    base: Path
    certs: CertSet
    port: int
    keys: list[dict[str, Any]] = field(repr=False)
    accounts: dict[str, dict[str, Any]]
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls, base: Path, certs: CertSet, accounts: dict[str, dict[str, Any]],
        keys: list[dict[str, Any]] | None = None,
    ) -> OidcProvider:  # fmt: skip
        base.mkdir(parents=True, exist_ok=True)
        provider = cls(base, certs, free_port(), keys or [rsa_jwk("key-1")], accounts)
        provider.proc = provider._spawn()
        return provider

    @property
    def issuer(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _config(self) -> dict[str, Any]:
        clients = [{"client_id": c, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT]}
                   for c in (CLIENT_ID, OTHER_CLIENT)]  # fmt: skip
        return {"issuer": self.issuer, "port": self.port, "cert": str(self.certs.cert),
                "key": str(self.certs.key), "keys": self.keys, "clients": clients,
                "accounts": self.accounts}  # fmt: skip

    def _spawn(self) -> subprocess.Popen[bytes]:
        config = self.base / "provider.json"
        config.touch(mode=0o600)
        config.write_text(json.dumps(self._config()))
        log = open(self.base / "provider.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(["node", str(SCRIPT), str(config)], stdout=log,
                                stderr=subprocess.STDOUT, cwd=SCRIPT.parent)  # fmt: skip
        wait_until(lambda: proc.poll() is not None or port_open(self.port), 30, "oidc-provider")
        if proc.poll() is not None:
            raise RuntimeError((self.base / "provider.log").read_text())
        return proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def rotate(self, new_key: dict[str, Any]) -> None:
        """Restart with a new signing key first (it signs from now on); the old one stays
        published, as providers do during a rollover."""
        self.stop()
        self.keys = [new_key, *self.keys]
        self.proc = self._spawn()

    def id_token(self, login: str, client_id: str = CLIENT_ID,
                 scope: str = "openid profile email groups") -> str:  # fmt: skip
        return id_token(self.issuer, self.certs.ca, login, client_id, scope)


# --- a client of the provider ---------------------------------------------------------------


def _opener(ca: Path) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context(cafile=str(ca))
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context),
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect,
    )  # fmt: skip


def _open(opener: urllib.request.OpenerDirector, url: str, form: dict[str, str] | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, str, str]:  # fmt: skip
    """(status, Location, body) of one request, without following redirects."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, "", response.read().decode()
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location", "")
        return exc.code, urllib.parse.urljoin(url, location), exc.read().decode()


def id_token(issuer: str, ca: Path, login: str, client_id: str = CLIENT_ID,
             scope: str = "openid profile email groups") -> str:  # fmt: skip
    """Log `login` in through the authorization code flow (the provider's development
    login and consent pages, submitted as a person would) and return its ID token."""
    opener = _opener(ca)
    query = urllib.parse.urlencode({
        "client_id": client_id, "response_type": "code", "scope": scope,
        "redirect_uri": REDIRECT, "state": secrets.token_hex(8), "nonce": secrets.token_hex(8),
    })  # fmt: skip
    url = f"{issuer}/auth?{query}"
    for _ in range(12):
        status, location, body = _open(opener, url)
        if location.startswith(REDIRECT):
            return _redeem(opener, issuer, location, client_id)
        if location:
            url = location
            continue
        if status != 200 or "/interaction/" not in url:
            raise RuntimeError(f"oidc-provider answered {status} at {url}: {body[:300]}")
        prompt = {"prompt": "login", "login": login, "password": "x"} \
            if 'name="login"' in body else {"prompt": "consent"}  # fmt: skip
        status, location, body = _open(opener, url, prompt)
        if not location:
            raise RuntimeError(f"oidc-provider refused the {prompt['prompt']}: {body[:300]}")
        url = location
    raise RuntimeError("the authorization code flow did not end")


def _redeem(opener: urllib.request.OpenerDirector, issuer: str, location: str, client: str) -> str:
    params = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
    if "code" not in params:
        raise RuntimeError(f"no code in the redirect: {params}")
    basic = base64.b64encode(f"{client}:{CLIENT_SECRET}".encode()).decode()
    form = {"grant_type": "authorization_code", "code": params["code"][0],
            "redirect_uri": REDIRECT}  # fmt: skip
    status, _, body = _open(opener, f"{issuer}/token", form, {"Authorization": f"Basic {basic}"})
    if status != 200:
        raise RuntimeError(f"token endpoint answered {status}: {body[:300]}")
    token: str = json.loads(body)["id_token"]
    return token


def main(argv: list[str] | None = None) -> int:
    """`python -m sandbox.oidc ISSUER CA USER`: a fresh ID token for USER on stdout."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("issuer")
    parser.add_argument("ca", type=Path)
    parser.add_argument("user")
    args = parser.parse_args(argv)
    print(id_token(args.issuer, args.ca, args.user))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
