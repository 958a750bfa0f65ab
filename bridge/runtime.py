"""The configuration a session works with (accounts, grants, credentials, backends, TLS
and RSA keys, the upstream), built from the config files in one go.

A Runtime is immutable; a reload builds a new one and swaps one reference, so a broken
file leaves the running one in place. Stateful parts (the store's fast-auth cache, the
RSA key pair, the decoy key) carry over from the previous Runtime.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import logging
import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bridge import rsa_keys
from bridge.backends.base import Backend
from bridge.backends.peer import PeerBackend
from bridge.backends.store import StoreBackend
from bridge.config import (
    AccountEntry,
    BridgeConfig,
    ConfigError,
    ProxyGrantEntry,
    TlsConfig,
    check_private,
    digests_of_reads,
    key_path,
    line_in,
    load_accounts_file_at,
    load_config,
    load_credentials,
    made_once,
)
from bridge.hashing import HASHERS, Sha2CryptHash, to_text
from bridge.mapping.accounts import AccountRow, AccountTable
from bridge.mapping.auth_string import parse_oidc
from bridge.mapping.hosts import ClientHost, HostPatternError, parse_host
from bridge.mapping.names import AccountNameError, format_account, parse_account
from bridge.mapping.proxy import ProxyGrant, ProxyGrants
from bridge.plugins import PLUGINS, STORE_PLUGINS, validate_row, validate_wire_method
from bridge.rsa_keys import RsaKeyPair
from bridge.upstream.login import UpstreamTarget, target_from_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    config_path: Path
    config: BridgeConfig
    accounts: AccountTable
    grants: ProxyGrants
    credentials: Mapping[str, bytes] = field(repr=False)
    tls: ssl.SSLContext | None
    rsa: rsa_keys.RsaKeyPair
    upstream: UpstreamTarget
    backends: Mapping[str, Backend]
    decoys: Mapping[str, AccountRow]  # plugin -> a row no password matches
    decoy_plugins: tuple[str, ...]  # one entry per store row: decoys mirror the real mix
    decoy_key: bytes = field(repr=False)
    digests: Mapping[str, str] = field(default_factory=dict)  # of the files as loaded

    @property
    def store(self) -> StoreBackend:
        store = self.backends["store"]
        assert isinstance(store, StoreBackend)
        return store

    def decoy_for(self, user: str, client: ClientHost) -> AccountRow:
        """A stand-in row for an unknown user: a plugin drawn from the rows in use, in the
        same proportions, and the same one every time for this user from any host (as mysqld's
        decoy users), with a hash that no password matches, so the exchange and its cost
        look like a wrong password for a real account of that plugin."""
        # The name only: were the client's address in it, an unknown name would switch to
        # different plugins from different addresses while a real account's never changes.
        digest = hmac.new(self.decoy_key, user.encode("utf-8", "surrogatepass"), hashlib.sha256)
        draw = int.from_bytes(digest.digest()[:8], "big")
        plugin = self.decoy_plugins[draw % len(self.decoy_plugins)]
        row = self.decoys[plugin]
        return AccountRow(user, client.display, plugin, row.authentication_string, "decoy")


def server_tls_context(cfg: TlsConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    check_private(cfg.key)
    try:
        ctx.load_cert_chain(str(cfg.cert), str(cfg.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls: cannot load {cfg.cert} / {cfg.key}: {exc}") from exc
    return ctx


def _row(entry: AccountEntry, where: str, index: int) -> AccountRow:
    auth = entry.auth_bytes()
    try:
        validate_row(entry.plugin, auth)
        parse_host(entry.host)
    except (ValueError, HostPatternError) as exc:
        raise ConfigError(f"{where}: {key_path(('accounts', index))}: {exc}") from None
    if entry.wire_method is not None:
        try:
            validate_wire_method(entry.plugin, entry.wire_method)
        except ValueError as exc:
            key = key_path(("accounts", index, "wire_method"))
            raise ConfigError(f"{where}: {key}: {exc}") from None
    return AccountRow(
        entry.user, entry.host, entry.plugin, auth, where, entry.init_sql, entry.wire_method
    )


def _grants(entry: ProxyGrantEntry, where: str, index: int) -> list[ProxyGrant]:
    try:
        proxy = parse_account(entry.proxy)
        proxied = [parse_account(name) for name in entry.proxied]
    except AccountNameError as exc:
        raise ConfigError(f"{where}: {key_path(('proxy_grants', index))}: {exc}") from None
    return [ProxyGrant(*proxy, *target, where) for target in proxied]


def load_accounts(paths: tuple[Path, ...]) -> tuple[list[AccountRow], ProxyGrants]:
    """Every account row and PROXY grant, in file order, validated; a ConfigError names
    every bad row of every file (file:line), then, when the rows are good, the rules across
    rows (duplicates, grants to missing rows)."""
    return made_once(("accounts", paths), lambda: _load_accounts(paths))


def _load_accounts(paths: tuple[Path, ...]) -> tuple[list[AccountRow], ProxyGrants]:
    rows: list[tuple[AccountRow, str]] = []
    grants: list[ProxyGrant] = []
    errors: list[str] = []
    for path in paths:
        try:
            parsed, root = load_accounts_file_at(path)  # one parse: data and line numbers
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        for i, entry in enumerate(parsed.accounts):
            where = line_in(path, root, ["accounts", i])
            try:
                rows.append((_row(entry, where, i), entry.host.lower()))
            except ConfigError as exc:
                errors.append(str(exc))
        for i, entry_grant in enumerate(parsed.proxy_grants):
            try:
                grants += _grants(entry_grant, line_in(path, root, ["proxy_grants", i]), i)
            except ConfigError as exc:
                errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    _cross_row_rules(rows, grants)
    return [row for row, _ in rows], ProxyGrants(tuple(grants))


def _cross_row_rules(rows: list[tuple[AccountRow, str]], grants: list[ProxyGrant]) -> None:
    """One row per user and host (host names compare without case, as in MySQL); a PROXY
    grant names a row that exists."""
    seen: dict[tuple[str, str], str] = {}
    for row, host in rows:
        key = (row.user, host)
        if key in seen:
            raise ConfigError(f"{row.source}: '{row.user}'@'{row.host}' is also in {seen[key]}")
        seen[key] = row.source
    for grant in grants:
        if (grant.proxy_user, grant.proxy_host.lower()) not in seen:
            proxy = format_account(grant.proxy_user, grant.proxy_host)
            raise ConfigError(f"{grant.source}: PROXY grant to {proxy}, which is no account row")


def _decoy_hash(plugin: str, secret: bytes) -> bytes:
    stored = HASHERS[plugin](secret)
    return stored.raw() if isinstance(stored, Sha2CryptHash) else to_text(stored).encode()


def _decoy_plugins(rows: list[AccountRow], default_plugin: str) -> tuple[str, ...]:
    return tuple(sorted(row.plugin for row in rows if row.plugin in STORE_PLUGINS)) or (
        default_plugin,
    )


def _decoys(plugins: tuple[str, ...]) -> dict[str, AccountRow]:
    secret = os.urandom(24)  # nobody knows it, so no password matches a decoy
    return {p: AccountRow("", "%", p, _decoy_hash(p, secret), "decoy") for p in set(plugins)}


def _rsa_pair(config: BridgeConfig, previous: Runtime | None, inspect_only: bool) -> RsaKeyPair:
    if previous is not None and previous.config.rsa == config.rsa:
        return previous.rsa
    if config.rsa is not None and (not inspect_only or config.rsa.private_key.exists()):
        if config.rsa.private_key.exists():
            check_private(config.rsa.private_key)
        try:
            return rsa_keys.load_or_generate(config.rsa.private_key, config.rsa.public_key)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"rsa: cannot load or create the key pair: {exc}") from exc
    if not inspect_only:
        log.warning("no 'rsa' keys configured: using a key pair generated for this run")
    return rsa_keys.generate()


def build_backends(config: BridgeConfig, previous: Runtime | None) -> dict[str, Backend]:
    """The store and auth_socket always; PAM when configured. A backend whose settings did
    not change is kept (with its caches and threads). A backend's module (and the library
    it wraps) is imported when the backend is configured."""
    old = previous.backends if previous is not None else {}
    backends: dict[str, Backend] = {
        "store": old.get("store") or StoreBackend(),
        "peer": old.get("peer") or PeerBackend(),
    }
    pam = config.backends.pam
    if pam is not None:
        from bridge.backends.pam import PamBackend

        kept = old.get("pam")
        try:
            fresh = isinstance(kept, PamBackend) and kept.config == pam
            backends["pam"] = kept if fresh and kept is not None else PamBackend(pam)
        except OSError as exc:
            raise ConfigError(f"backends.pam.library: cannot load {pam.library}: {exc}") from exc
    ldap = config.backends.ldap
    if ldap is not None:
        from bridge.backends.ldap import LdapBackend

        kept = old.get("ldap")
        fresh = isinstance(kept, LdapBackend) and kept.config == ldap
        backends["ldap"] = kept if fresh and kept is not None else LdapBackend(ldap)
    krb = config.backends.kerberos
    if krb is not None:
        from bridge.backends.kerberos import KerberosBackend

        kept = old.get("kerberos")
        if isinstance(kept, KerberosBackend) and kept.config == krb:
            backends["kerberos"] = kept
        else:
            try:
                backends["kerberos"] = KerberosBackend(krb, backends.get("ldap"))
            except Exception as exc:  # gssapi reports a bad keytab or principal in many ways
                raise ConfigError(f"backends.kerberos: {exc}") from exc
    oidc = config.backends.oidc
    if oidc is not None:
        from bridge.backends.oidc import OidcBackend

        kept = old.get("oidc")  # with its cached keys
        fresh = isinstance(kept, OidcBackend) and kept.config == oidc
        try:
            backends["oidc"] = kept if fresh and kept is not None else OidcBackend(oidc)
        except (OSError, ssl.SSLError) as exc:  # a provider's ca that cannot be read
            raise ConfigError(f"backends.oidc: cannot load a provider's ca: {exc}") from exc
    return backends


def _check_providers(config_path: Path, config: BridgeConfig, rows: list[AccountRow]) -> None:
    """Every OpenID Connect row names a configured provider."""
    known = {p.name for p in config.backends.oidc.providers} if config.backends.oidc else set()
    for row in rows:
        if row.plugin == "authentication_openid_connect":
            name = parse_oidc(row.authentication_string.decode("utf-8")).provider
            if name not in known:
                raise ConfigError(f"{config_path}: account {row.account} ({row.source}) names "
                                  f"identity_provider '{name}', which backends.oidc.providers "
                                  "does not configure")  # fmt: skip


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the files are read: a large accounts file makes
    hundreds of thousands of objects that reference counting frees, and each collection
    they set off walks every object alive (half the CPU time of loading 10,000 rows).
    Nested uses leave it to the outermost."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Files:
    """What the files say, validated: the part of a Runtime that is plain data, which a
    reload reads in a child process (bridge/reloadproc.py) and hands over."""

    config: BridgeConfig
    rows: tuple[AccountRow, ...]  # in MySQL's search order
    grants: ProxyGrants
    credentials: dict[str, bytes] = field(repr=False)
    decoy_plugins: tuple[str, ...]
    # 'sha256:...' of bridge.yaml and each accounts file as read (never a secrets file's)
    digests: dict[str, str] = field(default_factory=dict)


def build_runtime(
    config_path: Path, previous: Runtime | None = None, inspect_only: bool = False
) -> Runtime:
    """Read and validate every file; raise ConfigError naming the file, line and key.
    `inspect_only` (check, explain) writes nothing: no RSA key pair is created. Whatever
    goes wrong while reading (a file that is not UTF-8, YAML nested too deeply, ...) is a
    ConfigError too, so a reload keeps the running configuration."""
    with reading(config_path):
        files = read_files(config_path)
        return assemble(config_path, files, AccountTable(files.rows), previous, inspect_only)


@contextlib.contextmanager
def reading(config_path: Path) -> Iterator[None]:
    """GC paused; any exception is a ConfigError that names the config file."""
    with config_errors(config_path), gc_paused():
        yield


@contextlib.contextmanager
def config_errors(config_path: Path) -> Iterator[None]:
    """Whatever goes wrong is a ConfigError that names the config file."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{config_path}: cannot load: {type(exc).__name__}: {exc}") from None


OPTIONAL_BACKENDS = ("pam", "ldap", "kerberos", "oidc")  # keys of backends:, as build_backends


def read_files(config_path: Path) -> Files:
    """Every file read and validated, and the rules across them that need no backend."""
    with digests_of_reads() as read:
        config = load_config(config_path)
        rows, grants = load_accounts(config.accounts)
    digests = {str(p): read[str(p)] for p in (config_path, *config.accounts) if str(p) in read}
    credentials = load_credentials(config.upstream.credentials)
    configured = {"store", "peer"} | {
        name for name in OPTIONAL_BACKENDS if getattr(config.backends, name) is not None
    }
    missing = sorted({PLUGINS[r.plugin].backend for r in rows} - configured)
    if missing:
        needs = ", ".join(f"backends.{name}" for name in missing)
        raise ConfigError(f"{config_path}: the accounts need {needs}, which is not configured")
    _check_providers(config_path, config, rows)
    decoy_plugins = _decoy_plugins(rows, config.server.default_auth_plugin)
    ordered = AccountTable.build(rows).rows
    return Files(config, ordered, grants, credentials, decoy_plugins, digests)


def assemble(
    config_path: Path,
    files: Files,
    table: AccountTable,
    previous: Runtime | None,
    inspect_only: bool,
) -> Runtime:
    """The Runtime from what the files say: the server's TLS context, the RSA key pair,
    the backends, the decoys; what did not change is taken from `previous`."""
    config = files.config
    tls = server_tls_context(config.tls) if config.tls else None
    rsa = _rsa_pair(config, previous, inspect_only)
    backends = build_backends(config, previous)
    decoys = previous.decoys if previous is not None else {}
    if set(decoys) != set(files.decoy_plugins):
        decoys = _decoys(files.decoy_plugins)
    return Runtime(
        config_path,
        config,
        table,
        files.grants,
        files.credentials,
        tls,
        rsa,
        target_from_config(config.upstream),
        backends,
        decoys,
        files.decoy_plugins,
        previous.decoy_key if previous is not None else os.urandom(32),
        files.digests,
    )
