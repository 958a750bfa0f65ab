"""YAML configuration -> frozen, validated objects.

Unknown keys are errors; every error names the file, the line and the key. Relative paths
are taken from the directory of the file that names them.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import ipaddress
import os
import typing
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bridge import yamlfile
from bridge.mapping.templates import check_template
from bridge.secretfiles import secret_file_problem
from bridge.yamlfile import Mark, mark_at, start_line

M = TypeVar("M", bound="BaseModel")


class ConfigError(ValueError):
    """A configuration problem, already phrased for the operator."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base", Path.cwd())
    return value if value.is_absolute() else Path(base) / value


ConfigPath = Annotated[Path, AfterValidator(_resolve)]


def parse_address(text: str) -> tuple[str, int] | str:
    """'host:port', '[v6]:port' -> (host, port); 'unix:/path' -> '/path'."""
    if text.startswith("unix:"):
        return text[5:]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not 'host:port' or 'unix:/path'")
    return host.strip("[]") or "0.0.0.0", int(port)


def tcp_address(text: str) -> tuple[str, int]:
    address = parse_address(text)
    if isinstance(address, str):
        raise ValueError(f"{text!r}: listen.tcp takes 'host:port'; use listen.unix for sockets")
    return address


def _valid_address(text: str) -> str:
    parse_address(text)
    return text


def _valid_tcp(text: str) -> str:
    tcp_address(text)
    return text


Address = Annotated[str, AfterValidator(_valid_address)]
TcpAddress = Annotated[str, AfterValidator(_valid_tcp)]


def _audit_target(value: str, info: ValidationInfo) -> str:
    return value if value == "log" else str(_resolve(Path(value), info))


AuditTarget = Annotated[str, AfterValidator(_audit_target)]


@functools.lru_cache(maxsize=64)
def _networks(texts: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in texts)


def _network(text: str) -> str:
    ipaddress.ip_network(text, strict=False)
    return text


class ListenConfig(Model):
    tcp: tuple[TcpAddress, ...] = ("127.0.0.1:3307",)
    unix: ConfigPath | None = None
    # Load balancers that send the PROXY protocol header (HAProxy send-proxy-v2): from these
    # addresses it is required, and the client address it names is the one the bridge uses.
    proxy_protocol_from: tuple[Annotated[str, AfterValidator(_network)], ...] = ()

    def trusts_proxy(self, ip: str) -> bool:
        if not self.proxy_protocol_from:  # the common case, on every connection: no parsing
            return False
        address = ipaddress.ip_address(ip)
        return any(address in network for network in _networks(self.proxy_protocol_from))


class TlsConfig(Model):
    cert: ConfigPath
    key: ConfigPath
    require_secure_transport: bool = False


class RsaConfig(Model):
    private_key: ConfigPath
    public_key: ConfigPath


class ServerConfig(Model):
    default_auth_plugin: Literal[
        "caching_sha2_password", "mysql_native_password", "sha256_password"
    ] = "caching_sha2_password"
    max_connections: int = Field(10000, ge=1)  # logged-in sessions
    # Connections still in the handshake have slots of their own, so idle sockets cannot
    # take the places of logged-in sessions; one source address gets at most a few.
    max_unauthenticated: int = Field(1000, ge=1)
    max_unauthenticated_per_source: int = Field(32, ge=1)
    connect_timeout: float = Field(10.0, gt=0)
    allow_insecure_cleartext: bool = False
    skip_name_resolve: bool = False  # False: loopback clients are 'localhost', as in mysqld
    shutdown_grace: float = Field(30.0, ge=0)
    # Every packet before login (and during a COM_CHANGE_USER): the handshake response,
    # auth answers and connection attributes, which MySQL also limits to 64 KiB.
    max_handshake_packet: int = Field(1 << 16, ge=4096)
    max_change_user_failures: int = Field(3, ge=1)
    # MariaDB's limit since 10.6 (MDEV-24312; 80 before); MySQL's is 32
    max_user_name_length: int = Field(128, ge=1, le=1024)
    change_user_timeout: float = Field(10.0, gt=0)  # a COM_CHANGE_USER, read to verdict
    # A leg stops reading while this many bytes wait unprocessed in its buffer.
    read_buffer_limit: int = Field(1 << 20, ge=1 << 16)


class UpstreamTlsConfig(Model):
    mode: Literal["disabled", "preferred", "required", "verify_ca", "verify_identity"] = "preferred"
    ca: ConfigPath | None = None
    cert: ConfigPath | None = None
    key: ConfigPath | None = None

    @model_validator(mode="after")
    def _ca_for_verification(self) -> UpstreamTlsConfig:
        if self.mode in ("verify_ca", "verify_identity") and self.ca is None:
            raise ValueError(f"tls mode {self.mode} needs 'ca'")
        return self


class PoolConfig(Model):
    """Authenticated upstream connections kept for reuse (docs/configuration.md)."""

    enabled: bool = True
    max_idle_per_account: int = Field(16, ge=0)
    max_idle: int = Field(256, ge=0)  # kept idle connections in all
    idle_timeout: float = Field(60.0, gt=0)  # seconds; also before the upstream's wait_timeout


class UpstreamConfig(Model):
    address: Address = "127.0.0.1:3306"
    tls: UpstreamTlsConfig = UpstreamTlsConfig()
    credentials: ConfigPath
    connect_timeout: float = Field(5.0, gt=0)
    pool: PoolConfig = PoolConfig()


class PamConfig(Model):
    library: str = "libpam.so.0"  # a path or soname (tests use pam_wrapper's library)
    service: str = "mysql"  # when the account's authentication string names none
    threads: int = Field(8, ge=1, le=256)  # PAM transactions at once
    timeout: float = Field(60.0, gt=0)  # seconds for one transaction, prompts included


class LdapConfig(Model):
    servers: tuple[str, ...] = Field(min_length=1)  # tried in order: ldaps:// or ldap://
    start_tls: bool = True  # for ldap:// servers
    ca: ConfigPath | None = None  # verify the servers' certificates against this CA
    allow_plaintext: bool = False  # ldap:// without StartTLS: only when set explicitly
    bind_dn: str | None = None  # the service account, for searches
    bind_password_file: ConfigPath | None = None  # mode 0600 or stricter
    base_dn: str = ""  # where users (and groups) are searched; '': the rootDSE's naming context
    user_search_attr: str = "uid"  # 'sAMAccountName' for Active Directory
    group_search_base: str | None = None  # default: base_dn
    group_search_filter: str = (
        "(|(&(objectClass=posixGroup)(memberUid={user}))(&(objectClass=group)(member={dn}))"
        "(&(objectClass=groupOfNames)(member={dn})))"
    )
    group_search_attr: str = "cn"
    groups_from: Literal["search", "memberof", "tokengroups"] = "search"  # tokengroups: AD
    nested_groups: Literal["none", "ad", "walk"] = "none"  # ad: LDAP_MATCHING_RULE_IN_CHAIN
    nested_depth: int = Field(5, ge=1, le=20)  # for 'walk'
    connect_timeout: float = Field(3.0, gt=0)
    response_timeout: float = Field(5.0, gt=0)
    pool_size: int = Field(4, ge=1, le=64)  # bound service-account connections kept
    threads: int = Field(16, ge=1, le=256)
    group_cache_ttl: float = Field(0.0, ge=0)  # seconds; 0: no cache

    @model_validator(mode="after")
    def _secure_unless_told(self) -> LdapConfig:
        plain = [s for s in self.servers if s.lower().startswith("ldap://")]
        if plain and not self.start_tls and not self.allow_plaintext:
            raise ValueError(
                "ldap:// without start_tls sends passwords in clear: set start_tls: true, "
                "use ldaps://, or set allow_plaintext: true"
            )
        if (self.bind_dn is None) != (self.bind_password_file is None):
            raise ValueError("bind_dn and bind_password_file go together")
        return self


class KerberosConfig(Model):
    keytab: ConfigPath  # the bridge's service key; mode 0600 or stricter
    service_principal: str  # e.g. mysql/db.example.com@EXAMPLE.COM
    realms: tuple[str, ...] = ()  # realms accepted on rows that name none; default: the service's
    strip_realm: bool = True  # anonymous rows: the identity is 'alice', not 'alice@REALM'
    groups_from_ldap: bool = False  # authenticate with Kerberos, authorise with LDAP groups
    threads: int = Field(8, ge=1, le=256)  # password logins talk to the KDC off the loop
    timeout: float = Field(10.0, gt=0)

    @property
    def realm(self) -> str:
        return self.service_principal.rpartition("@")[2]

    @model_validator(mode="after")
    def _principal_has_realm(self) -> KerberosConfig:
        if "@" not in self.service_principal:
            raise ValueError("service_principal needs its realm: 'mysql/host@REALM'")
        return self


JwsAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]
# The asymmetric JWS algorithms a provider may sign ID tokens with. Never "none", never an
# HMAC algorithm (a shared secret is not something an identity provider publishes).
JWS_ALGORITHMS: tuple[JwsAlgorithm, ...] = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                  "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip


# The claims a row without "user" may be matched on. Only sub (and Entra's oid, with the
# tenant bound by the exact issuer) never change; the others are names a person or an
# administrator can change, and email counts only when the provider verified it.
IdentityClaim = Literal["sub", "oid", "preferred_username", "email", "upn"]


def _https_url(text: str) -> str:
    if not text.startswith("https://") or len(text) <= len("https://"):
        raise ValueError(f"{text!r}: an OpenID provider is reached over https:// only")
    return text


HttpsUrl = Annotated[str, AfterValidator(_https_url)]


class OidcProviderConfig(Model):
    """One OpenID Connect provider (docs/oidc.md). Rows name it in their authentication
    string: {"identity_provider": "<name>", ...}."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    issuer: HttpsUrl  # exactly as the tokens' "iss" claim says it
    discovery: bool = True  # keys from <issuer>/.well-known/openid-configuration's jwks_uri
    jwks_uri: HttpsUrl | None = None  # when set, used instead of discovery
    ca: ConfigPath | None = None  # verify the provider's certificate against this CA
    audience: str = Field(min_length=1)  # the client id the tokens are issued to ("aud")
    identity_claim: IdentityClaim = "sub"  # rows without "user": see docs/oidc.md
    groups_claim: str | None = None  # groups, roles: for the group mapping
    algorithms: tuple[JwsAlgorithm, ...] = Field(JWS_ALGORITHMS, min_length=1)
    clock_skew: float = Field(60.0, ge=0, le=300)  # seconds of leeway on exp, nbf and iat
    max_token_age: float | None = Field(None, gt=0)  # seconds since "iat"; None: exp decides
    max_token_bytes: int = Field(16384, ge=1024, le=65536)
    jwks_cache_ttl: float = Field(3600.0, ge=60)  # seconds before keys are fetched again
    jwks_refresh_interval: float = Field(60.0, ge=1)  # at most one fetch per this many seconds
    # cached keys not refreshed for this long (the provider unreachable): an outage
    jwks_max_stale: float = Field(86400.0, ge=60)
    timeout: float = Field(5.0, gt=0)  # seconds for one HTTPS request

    @model_validator(mode="after")
    def _keys_from_somewhere(self) -> OidcProviderConfig:
        if self.jwks_uri is None and not self.discovery:
            raise ValueError("set jwks_uri, or leave discovery on")
        if self.jwks_max_stale < self.jwks_cache_ttl:
            raise ValueError("jwks_max_stale must be at least jwks_cache_ttl")
        return self


class OidcConfig(Model):
    providers: tuple[OidcProviderConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> OidcConfig:
        names = [p.name for p in self.providers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"provider names must be unique: {', '.join(twice)}")
        return self


class BackendsConfig(Model):
    """Backend settings. The built-in hash store and auth_socket need none."""

    pam: PamConfig | None = None
    ldap: LdapConfig | None = None
    kerberos: KerberosConfig | None = None
    oidc: OidcConfig | None = None


class ProtectionConfig(Model):
    """Failed-login throttling and temporary lockout (docs/security.md). Off by default."""

    failed_login_threshold: int = Field(0, ge=0)  # consecutive failures before delays; 0: off
    min_delay: float = Field(1.0, gt=0)  # the first delay; each further failure adds as much
    max_delay: float = Field(30.0, gt=0)
    count_by: Literal["address", "account", "account_and_address"] = "address"
    failed_login_attempts: int = Field(0, ge=0)  # consecutive failures that lock; 0: no lock
    lock_time: float = Field(600.0, gt=0)  # seconds
    lock_by: Literal["account", "account_and_address"] = "account_and_address"


def _redis_url(text: str) -> str:
    """A state URL without credentials or options: a password in it would reach logs and
    error texts (state.username and state.password_file carry them), and an option such
    as ?ssl_cert_reqs=none would override the bridge's TLS settings."""
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("a state URL starts with redis://, rediss:// or unix://")
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise ValueError("a state URL holds no user or password: use state.username and "
                         "state.password_file")  # fmt: skip
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError(f"{parts.scheme}://{parts.netloc}{parts.path}: a state URL takes no "
                         "?options (TLS settings are state.tls_*)")  # fmt: skip
    return text


RedisUrl = Annotated[str, AfterValidator(_redis_url)]


class StateConfig(Model):
    """Where the state bridges share lives (docs/scaling.md): this process's memory, or a
    Redis/Valkey server that every worker and instance uses."""

    backend: Literal["memory", "redis"] = "memory"
    url: RedisUrl | None = None  # redis://host:port/db, rediss://... (TLS), unix:///path
    urls: tuple[RedisUrl, ...] = ()  # several: the first that answers (a replica set's primary)
    tls_ca: ConfigPath | None = None  # rediss://: the CA that signed the server's certificate
    tls_cert: ConfigPath | None = None  # rediss://: a client certificate, if the server asks
    tls_key: ConfigPath | None = None
    username: str | None = None  # Redis 6 ACL user
    password_file: ConfigPath | None = None  # a secrets file (0600 or 0640)
    key_prefix: str = Field("mysql-auth-bridge:", min_length=1, max_length=100)
    connect_timeout: float = Field(1.0, gt=0)  # seconds
    command_timeout: float = Field(0.5, gt=0)  # seconds; a slower answer counts as down
    fast_auth_key_file: ConfigPath | None = None  # 32 random bytes, a secrets file
    fast_auth_ttl: float = Field(86400.0, gt=0)  # seconds a shared fast-auth entry lives
    # While the engine is down: known_locks (locks this process has seen still refuse, new
    # failures are counted in-process), open (in-process counting only), closed (refuse).
    throttle_when_down: Literal["known_locks", "open", "closed"] = "known_locks"

    @model_validator(mode="after")
    def _redis_needs(self) -> StateConfig:
        if self.backend == "memory":
            return self
        if self.url is None and not self.urls:
            raise ValueError("backend redis needs url (or urls)")
        if self.fast_auth_key_file is None:
            raise ValueError("backend redis needs fast_auth_key_file (32 random bytes, 0600)")
        return self

    @property
    def all_urls(self) -> tuple[str, ...]:
        return ((self.url,) if self.url else ()) + self.urls


class MetricsConfig(Model):
    listen: TcpAddress = "127.0.0.1:9104"  # GET /metrics (Prometheus), /healthz and /readyz
    # Seconds each probe of /healthz and /readyz may take (they run at once, so an answer
    # comes within it): keep it below the load balancer's check timeout.
    health_timeout: float = Field(5.0, gt=0, le=60)


class LogConfig(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"  # json: one object a line (journald, Loki)


class AdminConfig(Model):
    """The runtime admin interface (docs/operations.md): a Unix socket (mode 0600), or
    TCP with a token read from `token_file` (a secrets file)."""

    listen: Address = "unix:/run/mysql-auth-bridge/admin.sock"
    token_file: ConfigPath | None = None

    @model_validator(mode="after")
    def _token_for_tcp(self) -> AdminConfig:
        if not self.listen.startswith("unix:") and self.token_file is None:
            raise ValueError("a TCP admin listener needs token_file")
        return self


class BridgeConfig(Model):
    listen: ListenConfig = ListenConfig()
    tls: TlsConfig | None = None
    rsa: RsaConfig | None = None
    server: ServerConfig = ServerConfig()
    upstream: UpstreamConfig
    accounts: tuple[ConfigPath, ...] = ()
    backends: BackendsConfig = BackendsConfig()
    log: LogConfig = LogConfig()
    protection: ProtectionConfig = ProtectionConfig()
    state: StateConfig = StateConfig()
    metrics: MetricsConfig | None = None
    audit_log: AuditTarget | None = None  # a file (JSON lines), or 'log' for the log
    admin: AdminConfig | None = None


# --- accounts files --------------------------------------------------------------------------


class AccountEntry(Model):
    user: str = Field(max_length=128)  # MariaDB 10.6 and later
    host: str = Field("%", max_length=255)
    plugin: str
    authentication_string: str = ""
    # Statements run upstream right after the login, with {placeholders} filled in as
    # quoted string literals (see docs/mapping.md).
    init_sql: tuple[str, ...] = ()
    # Always ask the client for this method (e.g. dialog for a PAM stack with several
    # prompts), instead of following the client's first choice.
    wire_method: str | None = None

    @field_validator("init_sql")
    @classmethod
    def _templates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for template in value:
            check_template(template)
        return value

    def auth_bytes(self) -> bytes:
        """'0x...' is hex (as SHOW CREATE USER prints binary hashes), else UTF-8 text."""
        text = self.authentication_string
        if text[:2] in ("0x", "0X"):
            return bytes.fromhex(text[2:])
        return text.encode("utf-8")

    @field_validator("authentication_string")
    @classmethod
    def _hex_is_hex(cls, value: str) -> str:
        if value[:2] in ("0x", "0X"):
            try:
                bytes.fromhex(value[2:])
            except ValueError as exc:
                raise ValueError("a '0x' authentication_string must be hex digits") from exc
        return value


class ProxyGrantEntry(Model):
    """GRANT PROXY ON <each of proxied> TO <proxy>, in MySQL's account-name syntax."""

    proxy: str
    proxied: tuple[str, ...] = Field(min_length=1)


class AccountsFile(Model):
    accounts: tuple[AccountEntry, ...] = ()
    proxy_grants: tuple[ProxyGrantEntry, ...] = ()


# --- upstream credentials --------------------------------------------------------------------


class UpstreamCredential(Model):
    password: SecretStr | None = None
    password_file: ConfigPath | None = None
    password_env: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> UpstreamCredential:
        keys = ("password", "password_file", "password_env")
        given = [k for k in keys if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of password, password_file, password_env")
        return self

    def resolve(self) -> bytes:
        if self.password is not None:
            return self.password.get_secret_value().encode()
        if self.password_file is not None:
            check_private(self.password_file)
            return self.password_file.read_bytes().rstrip(b"\r\n")
        value = os.environ.get(self.password_env or "")
        if value is None:
            raise ValueError(f"environment variable {self.password_env} is not set")
        return value.encode()


# --- loading ---------------------------------------------------------------------------------


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as `X | None` or `tuple[X, ...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _suggestion(model: type[BaseModel] | None, loc: list[int | str]) -> str:
    """ "; did you mean `address`?" for a mistyped key, when a known key is close."""
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    if model is None or not isinstance(loc[-1], str):
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def key_path(loc: Iterable[int | str]) -> str:
    """A key path as the errors print it: `accounts[3].host`, `listen.tcp[0]`,
    `backends.oidc.providers[1].issuer` (docs/configuration.md)."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _describe(
    errors: ValidationError,
    path: Path,
    root: Mark | None,
    model: type[BaseModel] | None = None,
) -> Iterator[str]:
    for err in errors.errors():
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        mark = _nearest_mark(root, loc)
        line = f":{start_line(mark) + 1}" if mark is not None else ""
        key = key_path(loc) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key" + _suggestion(model, loc) if loc else "unknown key"
        elif err["type"] == "missing":
            message = "missing (required)"
        yield f"{path}{line}: {key}: {message}"


def _nearest_mark(root: Mark | None, loc: list[int | str]) -> Mark | None:
    """The marks at a key path, or at the nearest enclosing key that is in the file (a
    missing key: the line of the item it is missing from)."""
    for depth in range(len(loc), -1, -1):
        mark = mark_at(root, loc[:depth])
        if mark is not None:
            return mark
    return None


def _parse(text: str) -> tuple[Any, Mark | None]:
    """One parse: the data and the line of every key and item."""
    return yamlfile.parse(text)


class _Once:
    """Within `parse_once()`: file text -> its parse, and what was made from the files
    (validated accounts, credentials), so that a command that validates the same files in
    several stages (check) reads and validates each once. Off otherwise: a running bridge
    keeps no parses."""

    def __init__(self) -> None:
        self.parsed: dict[str, tuple[Any, Mark | None]] = {}
        self.made: dict[tuple[Any, ...], Any] = {}


_once: ContextVar[_Once | None] = ContextVar("_once", default=None)
T = TypeVar("T")


@contextlib.contextmanager
def parse_once() -> Iterator[None]:
    token = _once.set(_Once())
    try:
        yield
    finally:
        _once.reset(token)


def made_once(key: tuple[Any, ...], make: Callable[[], T]) -> T:
    """What `make` returns, made once per key within `parse_once()` (a failure is not kept:
    a stage that failed stops the command before another asks again)."""
    once = _once.get()
    if once is None:
        return make()
    if key not in once.made:
        once.made[key] = make()
    return cast(T, once.made[key])


_read_digests: ContextVar[dict[str, str] | None] = ContextVar("_read_digests", default=None)


@contextlib.contextmanager
def digests_of_reads() -> Iterator[dict[str, str]]:
    """Within it: path -> 'sha256:...' of the bytes read_yaml read and parsed (the first
    read of each file), so that `status` says which version a bridge loaded, not which
    version is on disk now."""
    found: dict[str, str] = {}
    token = _read_digests.set(found)
    try:
        yield found
    finally:
        _read_digests.reset(token)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """A YAML syntax error as every other configuration error reads: one line, with the file
    and the line of the problem (`bridge.yaml:7: not valid YAML: did not find expected ','
    or '}' (column 1; while parsing a flow mapping at line 6, column 9)`), never YAML's
    several lines about a `<unicode string>`."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"{path}: not valid YAML: {_one_line(str(exc))}"
    context, problem = exc.context, exc.problem
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return f"{path}: not valid YAML: {_one_line(str(exc))}"
    said = _one_line(problem or context or "")
    details = [f"column {mark.column + 1}"]
    if problem and context:
        at = exc.context_mark
        elsewhere = at is not None and (at.line, at.column) != (mark.line, mark.column)
        where = f" at line {at.line + 1}, column {at.column + 1}" if at and elsewhere else ""
        details.append(f"{_one_line(context)}{where}")
    return f"{path}:{mark.line + 1}: not valid YAML: {said} ({'; '.join(details)})"


def read_yaml(path: Path) -> tuple[Any, Mark | None]:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    seen = _read_digests.get()
    if seen is not None:
        seen.setdefault(str(path), "sha256:" + hashlib.sha256(raw).hexdigest())
    once = _once.get()
    cache = once.parsed if once is not None else None
    if cache is not None and text in cache:
        return cache[text]  # validation reads the data, never changes it
    try:
        parsed = _parse(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from exc
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # a value YAML cannot build (a date, ...)
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if cache is not None:
        cache[text] = parsed
    return parsed


def validate_file(model: type[M], path: Path) -> M:
    return validate_file_at(model, path)[0]


def validate_file_at(model: type[M], path: Path) -> tuple[M, Mark | None]:
    """The validated model and the node tree it came from (for line numbers later)."""
    data, root = read_yaml(path)
    if data is None:
        data = {}
    try:
        return model.model_validate(data, context={"base": path.parent}), root
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(exc, path, root, model))) from None


def line_in(path: Path, root: Mark | None, loc: Iterable[int | str]) -> str:
    """'path:line' of a key path in an already parsed file."""
    mark = mark_at(root, list(loc))
    return f"{path}:{start_line(mark) + 1}" if mark is not None else str(path)


def line_of(path: Path, loc: Iterable[int | str]) -> str:
    """'path:line' of a key path, for errors found after validation (parses the file: when
    asking for many, parse once with validate_file_at and use line_in)."""
    return line_in(path, read_yaml(path)[1], loc)


def load_config(path: Path) -> BridgeConfig:
    return validate_file(BridgeConfig, path)


def load_accounts_file_at(path: Path) -> tuple[AccountsFile, Mark | None]:
    return validate_file_at(AccountsFile, path)


def check_private(path: Path) -> None:
    """A secrets file: 0600, or 0640 for the service's group (bridge/secretfiles.py)."""
    problem = secret_file_problem(path)
    if problem is not None:
        raise ConfigError(problem)


def load_credentials(path: Path) -> dict[str, bytes]:
    """upstream-credentials.yaml: account user name -> the password the bridge uses."""
    return made_once(("credentials", path), lambda: _load_credentials(path))


def _load_credentials(path: Path) -> dict[str, bytes]:
    check_private(path)
    data, root = read_yaml(path)
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of account name to credentials")
    resolved: dict[str, bytes] = {}
    errors: list[str] = []  # every entry's, as check promises: not only the first
    for name, entry in data.items():
        try:
            resolved[name] = _credential(path, root, name, entry)
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return resolved


def _credential(path: Path, root: Mark | None, name: Any, entry: object) -> bytes:
    if not isinstance(name, str):  # `no:` or `null:` unquoted: YAML reads false, None
        raise ConfigError(
            f"{line_in(path, root, [name])}: the account name {name!r} is not text "
            "(YAML read it as another type): put it in quotes"
        )
    try:
        cred = UpstreamCredential.model_validate(entry, context={"base": path.parent})
        return cred.resolve()
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe_prefixed(exc, path, root, name))) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{line_in(path, root, [name])}: {name}: {exc}") from None


def _describe_prefixed(
    exc: ValidationError, path: Path, root: Mark | None, name: Any
) -> Iterator[str]:
    sub = mark_at(root, [name])
    for line in _describe(exc, path, sub, UpstreamCredential):
        file_part, _, rest = line.partition(": ")
        rest = rest.removeprefix("(top level)")  # the entry itself: 'name: give exactly one'
        joint = "" if not rest or rest.startswith(":") else "."
        yield f"{file_part}: {name}{joint}{rest}"


# Settings read once at start: a reload that changes them says so, and they stay as they were
# until the next restart (the listeners are bound, the log handler and Redis set up, once).
RESTART_ONLY: dict[str, Callable[[BridgeConfig], object]] = {
    "listen.tcp": lambda c: c.listen.tcp,
    "listen.unix": lambda c: c.listen.unix,
    "metrics": lambda c: c.metrics,
    "admin": lambda c: c.admin,
    "log": lambda c: c.log,
    "state": lambda c: c.state,
}


def restart_only_changes(running: BridgeConfig, new: BridgeConfig) -> list[str]:
    """The names of the restart-only settings that differ between the two."""
    return [name for name, get in RESTART_ONLY.items() if get(running) != get(new)]


def restart_note(changed: Iterable[str]) -> str:
    """What a reload says (log and `mysql-auth-bridge reload`) of restart-only changes."""
    return f"{', '.join(changed)} changed; the running values stay until the next restart"
