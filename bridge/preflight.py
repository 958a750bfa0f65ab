"""What `serve` would fail on that the YAML cannot show: directories that do not exist,
files that are missing or readable by others, ports already in use. `check` and `serve`
both run these, so a problem is reported once, with the config file, line and key, and a
hint how to fix it; never as a traceback."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bridge.audit import mode_warning
from bridge.config import (
    BridgeConfig,
    ConfigError,
    key_path,
    line_of,
    parse_address,
    tcp_address,
)
from bridge.secretfiles import secret_file_problem, secret_file_warning

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    loc: Loc  # the config key it is about
    message: str
    warning: bool = False  # serve starts all the same; logged, and `check` says warning:


Check = Callable[[BridgeConfig], Iterator[Problem]]
TLS_HINT = (
    "; make a self-signed pair with: {mkdir}openssl req -x509 -newkey rsa:2048 -nodes "
    "-days 825 -subj /CN=$(hostname) -addext subjectAltName=DNS:$(hostname),IP:127.0.0.1 "
    "-keyout {key} -out {cert} && chmod 640 {key}"
)


def _directory(loc: Loc, path: Path, what: str) -> Iterator[Problem]:
    parent = path.parent
    if not parent.is_dir():
        yield Problem(loc, f"the directory {parent} for {what} does not exist (mkdir -p {parent})")
    elif not os.access(parent, os.W_OK | os.X_OK):
        yield Problem(loc, f"the directory {parent} for {what} is not writable by this user")


def _readable(loc: Loc, path: Path, what: str, hint: str = "") -> Iterator[Problem]:
    if not path.exists():
        yield Problem(loc, f"{what} {path} does not exist{hint}")
    elif not os.access(path, os.R_OK):
        yield Problem(loc, f"{what} {path} is not readable by this user")


def _secret(loc: Loc, path: Path) -> Iterator[Problem]:
    problem = secret_file_problem(path)
    if problem is not None:
        yield Problem(loc, problem.removeprefix(f"{path}: "))
        return
    warning = secret_file_warning(path)
    if warning is not None:
        yield Problem(loc, warning.removeprefix(f"{path}: "), warning=True)


def unix_socket_dir(config: BridgeConfig) -> Iterator[Problem]:
    if config.listen.unix is not None:
        yield from _directory(("listen", "unix"), config.listen.unix, "the Unix socket")


def rsa_keys(config: BridgeConfig) -> Iterator[Problem]:
    rsa = config.rsa
    if rsa is None:
        return
    if rsa.private_key.exists():
        yield from _secret(("rsa", "private_key"), rsa.private_key)
        return  # an existing pair is loaded as it is
    for key in ("private_key", "public_key"):
        yield from _directory(("rsa", key), getattr(rsa, key), "the RSA key generated at start")


def tls_files(config: BridgeConfig) -> Iterator[Problem]:
    tls = config.tls
    if tls is None:
        return
    dirs = sorted({str(tls.cert.parent), str(tls.key.parent)})
    missing = [d for d in dirs if not Path(d).is_dir()]
    mkdir = f"mkdir -p {' '.join(missing)} && " if missing else ""
    hint = TLS_HINT.format(key=tls.key, cert=tls.cert, mkdir=mkdir)
    yield from _readable(("tls", "cert"), tls.cert, "the certificate", hint)
    # The same hint makes both files: give it once.
    yield from _readable(
        ("tls", "key"), tls.key, "the private key", "" if not tls.cert.exists() else hint
    )
    if tls.key.exists():
        yield from _secret(("tls", "key"), tls.key)


def upstream_tls_files(config: BridgeConfig) -> Iterator[Problem]:
    tls = config.upstream.tls
    for key in ("ca", "cert", "key"):
        path = getattr(tls, key)
        if path is not None:
            yield from _readable(("upstream", "tls", key), path, f"the upstream TLS {key}")
    if tls.key is not None and tls.key.exists():
        yield from _secret(("upstream", "tls", "key"), tls.key)


def backend_files(config: BridgeConfig) -> Iterator[Problem]:
    ldap, krb = config.backends.ldap, config.backends.kerberos
    if ldap is not None and ldap.ca is not None:
        yield from _readable(("backends", "ldap", "ca"), ldap.ca, "the LDAP CA")
    if ldap is not None and ldap.bind_password_file is not None:
        yield from _secret(("backends", "ldap", "bind_password_file"), ldap.bind_password_file)
    if krb is not None:
        yield from _secret(("backends", "kerberos", "keytab"), krb.keytab)


def audit_log_dir(config: BridgeConfig) -> Iterator[Problem]:
    if config.audit_log not in (None, "log"):
        path = Path(config.audit_log)
        if path.exists() and not os.access(path, os.W_OK):
            yield Problem(("audit_log",), f"the audit log {path} is not writable by this user")
        else:
            yield from _directory(("audit_log",), path, "the audit log")
        yield from _audit_file_mode(path)


def _audit_file_mode(path: Path) -> Iterator[Problem]:
    """An existing audit file others may read: a warning (the bridge creates it 0640 and
    leaves the mode of one that exists alone; bridge/audit.py warns again on a reload)."""
    try:
        mode = path.stat().st_mode
    except OSError:  # not there yet, or said above
        return
    warning = mode_warning(str(path), mode)
    if warning is not None:
        yield Problem(("audit_log",), warning, warning=True)


def admin_listener(config: BridgeConfig) -> Iterator[Problem]:
    admin = config.admin
    if admin is None:
        return
    address = parse_address(admin.listen)
    if isinstance(address, str):
        yield from _directory(("admin", "listen"), Path(address), "the admin socket")
    if admin.token_file is not None:
        yield from _secret(("admin", "token_file"), admin.token_file)


def _port_problem(text: str) -> str | None:
    host, port = tcp_address(text)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"{text}: the port is in use (see: ss -ltnp 'sport = :{port}'; if it is "
                        "this bridge, running, check with --skip-ports)")  # fmt: skip
            return f"{text}: cannot listen: {exc.strerror}"
    return None


def ports(config: BridgeConfig) -> Iterator[Problem]:
    """Every TCP address the bridge would listen on is free to bind."""
    wanted: list[tuple[Loc, str]] = [
        (("listen", "tcp", i), t) for i, t in enumerate(config.listen.tcp)
    ]
    if config.metrics is not None:
        wanted.append((("metrics", "listen"), config.metrics.listen))
    if config.admin is not None and not config.admin.listen.startswith("unix:"):
        wanted.append((("admin", "listen"), config.admin.listen))
    for loc, text in wanted:
        problem = _port_problem(text)
        if problem is not None:
            yield Problem(loc, problem)


def running_bridge(config: BridgeConfig) -> str | None:
    """The Unix socket of a bridge already serving this configuration (its admin socket or
    listen.unix answers), or None. Its ports are then in use by itself, not by a stranger."""
    admin = config.admin.listen if config.admin is not None else ""
    path = admin.removeprefix("unix:")
    candidates = [path, f"{path}.0"] if admin.startswith("unix:") else []  # .0: --workers
    if config.listen.unix is not None:
        candidates.append(str(config.listen.unix))
    for path in candidates:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            try:
                sock.connect(path)
            except OSError:
                continue
            return path
    return None


CHECKS: dict[str, Check] = {
    "unix_socket_dir": unix_socket_dir,
    "rsa_keys": rsa_keys,
    "tls_files": tls_files,
    "upstream_tls_files": upstream_tls_files,
    "backend_files": backend_files,
    "audit_log_dir": audit_log_dir,
    "admin_listener": admin_listener,
    "ports": ports,
}


def preflight(
    config_path: Path, config: BridgeConfig, skip: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """(errors, warnings), each as 'file:line: key: message'."""
    errors: list[str] = []
    warnings: list[str] = []
    for name, check in CHECKS.items():
        if name in skip:
            continue
        for problem in check(config):
            key = key_path(problem.loc)
            line = f"{where(config_path, problem.loc)}: {key}: {problem.message}"
            (warnings if problem.warning else errors).append(line)
    return errors, warnings


def where(config_path: Path, loc: Loc) -> str:
    """'file:line' of the key, or of the nearest section the file has when the key is a
    default it does not write (`admin: {}`: the line of `admin`)."""
    for end in range(len(loc), 0, -1):
        try:
            found = line_of(config_path, loc[:end])
        except ConfigError:
            break
        if found != str(config_path):
            return found
    return str(config_path)
