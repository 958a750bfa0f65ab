"""Cross-file checks for `mysql-auth-bridge check`: what each file can't see on its own."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bridge.admintoken import token_warnings
from bridge.config import (
    BridgeConfig,
    ConfigError,
    load_config,
    load_credentials,
    parse_once,
)
from bridge.decision import Verdict, resolve
from bridge.fdlimit import FileBudget, check_limit
from bridge.mapping.accounts import AccountRow
from bridge.mapping.names import format_account
from bridge.mapping.proxy import NEVER_ANONYMOUS, ProxyGrant
from bridge.plugins import PLUGINS
from bridge.preflight import preflight, running_bridge, where
from bridge.runtime import (
    Runtime,
    build_backends,
    build_runtime,
    gc_paused,
    load_accounts,
    server_tls_context,
)
from bridge.state.engine import read_password
from bridge.state.fastauth import read_key_file


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# Each part of the configuration that can fail on its own, tried separately so that one run
# reports all of them. A stage is skipped when preflight already reported its files.
def _accounts(config: BridgeConfig) -> None:
    """Every bad row of every accounts file, not only the first; then the cross-row rules
    (duplicates, grants to missing rows)."""
    load_accounts(config.accounts)


def _state_files(config: BridgeConfig) -> None:
    """state.backend redis: the key file and the password file, as serve reads them."""
    if config.state.backend != "redis":
        return
    assert config.state.fast_auth_key_file is not None
    read_key_file(config.state.fast_auth_key_file)
    read_password(config.state)


def state_warnings(config: BridgeConfig, workers: int = 1) -> list[str]:
    """In-process state where several processes share the clients (docs/scaling.md)."""
    if config.state.backend != "memory":
        return _plain_remote_urls(config.state.all_urls)
    shared = "failed-login counts and locks and the fast-auth cache are per process"
    found = []
    if workers > 1:
        found.append(f"--workers {workers} with state.backend memory: {shared} (each worker "
                     "allows the full count of guesses); use state.backend redis")  # fmt: skip
    if config.listen.proxy_protocol_from:
        found.append("listen.proxy_protocol_from is set (a load balancer in front of several "
                     f"bridges?) with state.backend memory: {shared}, and KILL finds only this "
                     "instance's sessions; use state.backend redis")  # fmt: skip
    return found


def _plain_remote_urls(urls: Iterable[str]) -> list[str]:
    """redis:// to another host: counts, locks and KILL ids cross the network in clear."""
    found = []
    for url in urls:
        host = urlsplit(url).hostname or ""
        if url.startswith("redis://") and not _loopback(host):
            found.append(f"state URL {url} is plain redis:// to a host that is not this one: "
                         "anyone on the path can read and change the throttle's locks and "
                         "the KILL registry; use rediss:// (TLS, state.tls_ca)")  # fmt: skip
    return found


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


STAGES: dict[str, Callable[[BridgeConfig], object]] = {
    "accounts": _accounts,
    "state": _state_files,
    "upstream.credentials": lambda c: load_credentials(c.upstream.credentials),
    "tls": lambda c: server_tls_context(c.tls) if c.tls is not None else None,
    "backends": lambda c: build_backends(c, None),
}


def inspect_all(
    config_path: Path, skip: frozenset[str] = frozenset(), workers: int = 1
) -> tuple[Runtime | None, Findings]:
    """Every problem `serve` would meet, in one run; the runtime when there is none.
    `skip` names preflight checks to leave out (e.g. 'ports'); `workers`: as serve will
    run. Each file is parsed once, however many stages read it."""
    with parse_once(), gc_paused():
        return _inspect_all(config_path, skip, workers)


def _inspect_all(
    config_path: Path, skip: frozenset[str], workers: int
) -> tuple[Runtime | None, Findings]:
    """The stages find problems in their own order (preflight by setting, rows before
    grants, file after file): they are told in the files' order, each by line."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return None, Findings(errors=str(exc).splitlines())
    runtime, found = _inspect_config(config_path, config, skip, workers)
    files = [config_path, *config.accounts, config.upstream.credentials]
    found.errors = in_file_order(found.errors, files)
    found.warnings = in_file_order(found.warnings, files)
    return runtime, found


def in_file_order(lines: list[str], files: Iterable[Path]) -> list[str]:
    """`file:line: ...` lines sorted by file (in the order given, then any other file in the
    order it first comes) and by line in each; a file's own lines (`file: ...`) first, lines
    that name no file last. Lines with the same place keep their order."""
    rank = {str(path): i for i, path in enumerate(dict.fromkeys(files))}
    places = [_place(line, rank) for line in lines]
    for path, _ in places:
        if path is not None:
            rank.setdefault(path, len(rank))
    keyed = [(len(rank), 0) if path is None else (rank[path], n) for path, n in places]
    return [line for _, line in sorted(zip(keyed, lines, strict=True), key=lambda kl: kl[0])]


_PLACE = re.compile(r"(?P<path>[^:\s]*[/.][^:\s]*?)(?::(?P<line>\d+))?: ")


def _place(line: str, known: dict[str, int]) -> tuple[str | None, int]:
    """(file, line) at the start of an error line: a known file, else what looks like a
    path (a '/' or a '.' in it, no space); (None, 0) when there is none."""
    for path in known:
        if line.startswith(f"{path}:"):
            number = re.match(r"(\d+): ", line[len(path) + 1 :])
            return path, int(number[1]) if number else 0
    found = _PLACE.match(line)
    if found is None:
        return None, 0
    return found["path"], int(found["line"] or 0)


def _inspect_config(
    config_path: Path, config: BridgeConfig, skip: frozenset[str], workers: int
) -> tuple[Runtime | None, Findings]:
    found = Findings()
    found.warnings += state_warnings(config, workers)
    found.warnings += token_warnings(config.admin)
    files = check_limit(FileBudget.of(config))
    if files is not None:
        place = where(config_path, ("server", "max_connections"))
        found.warnings.append(f"{place}: server.max_connections: {files}")
    running = running_bridge(config)
    if running is not None and "ports" not in skip:
        skip |= {"ports"}
        found.warnings.append(
            f"a bridge is running on this configuration (unix:{running} answers): "
            "its TCP ports were not tried"
        )
    errors, warnings = preflight(config_path, config, skip)
    found.errors += errors
    found.warnings += warnings
    for name, stage in STAGES.items():
        if any(f": {name}." in line for line in found.errors):
            continue
        try:
            stage(config)
        except ConfigError as exc:
            found.errors += str(exc).splitlines()
    if found.errors:
        return None, found
    try:
        runtime = build_runtime(config_path, inspect_only=True)
    except ConfigError as exc:
        found.errors += str(exc).splitlines()
        return None, found
    cross = check_runtime(runtime)
    found.errors += cross.errors
    found.warnings += cross.warnings
    return runtime, found


def _always_proxies(rt: Runtime, row: AccountRow) -> bool:
    """A built-in-plugin row with a PROXY grant to a named account the bridge can log in as
    never logs in as itself (a grant to the anonymous account, or to one without upstream
    credentials, is passed over: bridge/mapping/proxy.py)."""
    named = [g for g in rt.grants.for_row(row) if g.proxied_user in rt.credentials]
    return PLUGINS[row.plugin].rule is None and bool(named)


def check_runtime(rt: Runtime) -> Findings:
    found = Findings()
    credentials_file = rt.config.upstream.credentials
    for row in rt.accounts.rows:
        if row.user and not _always_proxies(rt, row) and row.user not in rt.credentials:
            found.errors.append(
                f"{row.source}: {row.account} can log in as itself, but {credentials_file} "
                f"has no entry '{row.user}' for the bridge to log in upstream with"
            )
    for grant in rt.grants.grants:
        if grant.proxied_user == "":
            found.warnings.append(_unused_anonymous_grant(grant))
        elif grant.proxied_user not in rt.credentials:
            _grant_without_credentials(rt, grant, found)
    found.warnings += _shadowed_default_proxy(rt)
    found.warnings += _mappings_without_grant(rt)
    found.warnings += _host_name_rows(rt)
    return found


def _grant_without_credentials(rt: Runtime, grant: ProxyGrant, found: Findings) -> None:
    """A grant to an account the bridge cannot log in upstream as. A built-in plugin's row
    passes over it at login, as MySQL passes over a grant whose proxied account does not
    exist (a warning, with what the login does instead); a mapping or a backend that names
    the account is denied at login (an error)."""
    proxied = format_account(grant.proxied_user, grant.proxied_host)
    missing = (
        f"{grant.source}: PROXY grant for {proxied}, but {rt.config.upstream.credentials} has "
        f"no entry '{grant.proxied_user}' for the bridge to log in upstream with"
    )
    row = rt.accounts.find(grant.proxy_user, grant.proxy_host)
    if row is None or PLUGINS[row.plugin].mapping_rule(row.authentication_string) is not None:
        found.errors.append(missing)
        return
    found.warnings.append(
        f"{missing}: a login as {row.account} passes over it, as MySQL passes over a grant "
        f"whose proxied account does not exist, and {_instead(rt, row)}"
    )


def _instead(rt: Runtime, row: AccountRow) -> str:
    """What a login on a built-in plugin's row does, its grants to accounts without
    credentials passed over (bridge/decision.py's resolve, for no groups)."""
    outcome = resolve(rt, row, (), None)
    if outcome.verdict is Verdict.DENIED:
        return f"is refused with ERROR 1045: {outcome.reason}"
    account = outcome.decision.account
    if outcome.decision.proxied:
        return f"logs in upstream as {account} (the first of its PROXY grants it can use)"
    if outcome.verdict is Verdict.NO_CREDENTIALS:
        return f"logs in as {account} itself, which has no entry either (ERROR 3169)"
    return f"logs in upstream as {account} itself"


def _unused_anonymous_grant(grant: ProxyGrant) -> str:
    proxy = format_account(grant.proxy_user, grant.proxy_host)
    proxied = format_account(grant.proxied_user, grant.proxied_host)
    return (
        f"{grant.source}: the PROXY grant on {proxied} to {proxy} is never used: "
        f"{NEVER_ANONYMOUS}; {proxy} logs in as itself (or by its other grants): "
        "drop the grant from proxy_grants"
    )


def _host_name_rows(rt: Runtime) -> list[str]:
    """A row whose host only a host name could match: mysqld would resolve the client's
    address (when skip_name_resolve is off), the bridge does not, so no client gets it."""
    return [
        f"{row.source}: {row.account} names hosts by name, but the bridge resolves no host "
        "names (clients are matched by IP address, and as 'localhost'): no client matches "
        "this row; give the IP address or a netmask (10.1.2.0/255.255.255.0)"
        for row in rt.accounts.rows
        if row.host_pattern.needs_names()
    ]


def _mappings_without_grant(rt: Runtime) -> list[str]:
    """A group mapping to an account the row has no PROXY grant for: every login it
    decides ends in ERROR 1045, as in MySQL (no grant, no login; never a fallback)."""
    warnings = []
    for row in rt.accounts.rows:
        rule = PLUGINS[row.plugin].mapping_rule(row.authentication_string)
        for mapping in rule.mappings if rule is not None else ():
            if rt.grants.target(row, mapping.account) is None:
                groups = "+".join(mapping.groups)
                warnings.append(
                    f"{row.source}: {row.account} maps {groups} to '{mapping.account}', but has "
                    f"no PROXY grant for '{mapping.account}': those logins get ERROR 1045 (add "
                    f"{{proxy: \"{row.account}\", proxied: [\"'{mapping.account}'@'%'\"]}} "
                    "to proxy_grants)"
                )
    return warnings


def _shadowed_default_proxy(rt: Runtime) -> list[str]:
    anonymous = [r for r in rt.accounts.rows if r.user == ""]
    catch_all = [r for r in anonymous if r.host in ("%", "")]
    warnings = []
    for proxy in catch_all:
        for other in anonymous:
            if other is not proxy and other.host_pattern.sort_key() < proxy.host_pattern.sort_key():
                warnings.append(
                    f"{other.source}: the anonymous account {other.account} is more specific than "
                    f"the default proxy {proxy.account} ({proxy.source}): clients from "
                    f"'{other.host}' match it first and never reach the default proxy "
                    "(as in MySQL); drop it unless that is intended"
                )
    return warnings
