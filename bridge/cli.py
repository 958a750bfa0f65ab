"""Command line: serve, check, hash-password."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import __version__
from bridge.config import ConfigError
from bridge.hashing import StoredHash, make_native, make_sha2, to_text

if TYPE_CHECKING:
    from bridge.mapping.hosts import ClientHost
    from bridge.runtime import Runtime

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[..., int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
        COMMANDS[name] = fn
        return fn

    return register


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@command("serve")
def serve(args: argparse.Namespace) -> int:
    from bridge.runtime import build_runtime
    from bridge.server import BridgeServer

    try:
        runtime = build_runtime(Path(args.config))
    except ConfigError as exc:
        print(f"mysql-auth-bridge: configuration error:\n{exc}", file=sys.stderr)
        return 1
    setup_logging(runtime.config.log.level)

    def serve_one(worker: int | None = None, unix: socket.socket | None = None) -> None:
        async def main() -> None:
            # What start-up allocated lives for the whole run: keep it out of every
            # collection, and collect less often (sessions make little cyclic garbage).
            gc.freeze()
            gc.set_threshold(10_000, 20, 20)
            await BridgeServer(runtime, worker=worker, shared_unix=unix).serve()

        _event_loop_runner()(main())

    if args.workers > 1:
        from bridge.workers import run_workers

        return run_workers(runtime, args.workers, serve_one)
    serve_one()
    return 0


def _event_loop_runner() -> Callable[..., object]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def _inspect(args: argparse.Namespace) -> Runtime | None:
    """The configuration, loaded without writing anything; None (reported) if it is broken."""
    from bridge.runtime import build_runtime

    try:
        return build_runtime(Path(args.config), inspect_only=True)
    except ConfigError as exc:
        print(f"{exc}", file=sys.stderr)
        return None


@command("check")
def check(args: argparse.Namespace) -> int:
    from bridge.checks import check_runtime

    runtime = _inspect(args)
    if runtime is None:
        return 1
    findings = check_runtime(runtime)
    for line in findings.errors:
        print(f"error: {line}", file=sys.stderr)
    for line in findings.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if findings.errors:
        return 1
    print(f"{args.config}: OK ({len(runtime.accounts.rows)} account rows)")
    return 0


@command("explain")
def explain_command(args: argparse.Namespace) -> int:
    from bridge.explain import explain
    from bridge.mapping.hosts import client_host

    runtime = _inspect(args)
    if runtime is None:
        return 1
    host = None if args.host == "localhost" and args.transport == "socket" else args.host
    if host == "localhost":
        host = "127.0.0.1"
    try:
        client = client_host(host, not runtime.config.server.skip_name_resolve)
    except ValueError:
        print(f"--host takes an IP address or 'localhost', not {args.host!r}", file=sys.stderr)
        return 1
    groups = tuple(g for g in (args.groups or "").split(",") if g)
    if args.check_backend:
        asked = asyncio.run(backend_groups(runtime, args.user, client))
        if asked is None:
            return 1
        groups = asked
    result = explain(runtime, args.user, client, groups, args.transport)
    print("\n".join(result.lines))
    return 0 if result.granted else 1


@command("import-sql")
def import_sql_command(args: argparse.Namespace) -> int:
    from bridge.importsql import SqlSyntaxError, import_sql, to_yaml

    path = Path(args.file)
    try:
        sql = sys.stdin.read() if args.file == "-" else path.read_text(encoding="utf-8")
        result = import_sql(sql, args.file)
    except (OSError, SqlSyntaxError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    text = to_yaml(result)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    for line in result.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    for line in result.not_translated:
        print(f"NOT TRANSLATED: {line}", file=sys.stderr)
    return 1 if result.not_translated else 0


async def backend_groups(runtime: Runtime, user: str, client: ClientHost) -> tuple[str, ...] | None:
    """Ask the matched row's backend for the user's groups (no password needed)."""
    from bridge.errors import BackendUnavailable, Denied
    from bridge.plugins import PLUGINS

    row = runtime.accounts.match(user, client)
    if row is None:
        return ()
    backend = runtime.backends[PLUGINS[row.plugin].backend]
    lookup = getattr(backend, "lookup", None)
    if lookup is None:
        print(f"backend {backend.name}: keeps no groups to look up", file=sys.stderr)
        return ()
    try:
        groups: tuple[str, ...] = await lookup(user, row)
    except (Denied, BackendUnavailable) as exc:
        print(f"backend {backend.name}: {exc}", file=sys.stderr)
        return None
    print(f"backend {backend.name} reports the groups: {', '.join(groups) or '(none)'}")
    return groups


HASHERS: dict[str, Callable[[bytes], StoredHash]] = {
    "mysql_native_password": make_native,
    "caching_sha2_password": make_sha2,
    "sha256_password": make_sha2,
}


@command("hash-password")
def hash_password(args: argparse.Namespace) -> int:
    raw = sys.stdin.buffer.read()
    password = raw[:-1] if raw.endswith(b"\n") else raw
    password = password[:-1] if password.endswith(b"\r") else password
    print(to_text(HASHERS[args.plugin](password)))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mysql-auth-bridge", description=__doc__)
    p.add_argument("--version", action="version", version=f"mysql-auth-bridge {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text in (("serve", "run the service"), ("check", "validate the configuration")):
        sp = sub.add_parser(name, help=help_text)
        sp.add_argument("-c", "--config", required=True, help="path to bridge.yaml")
        if name == "serve":
            many = "worker processes on the same addresses (SO_REUSEPORT)"
            sp.add_argument("--workers", type=int, default=1, help=many)
    ep = sub.add_parser("explain", help="which row, method, backend and account a login gets")
    ep.add_argument("-c", "--config", required=True, help="path to bridge.yaml")
    ep.add_argument("user", help="the user name the client sends")
    ep.add_argument("--host", default="localhost", help="the client's IP address or localhost")
    ep.add_argument("--groups", help="comma-separated groups the backend would report")
    ep.add_argument("--transport", choices=("tcp", "tls", "socket"), default="tls")
    ask = "ask the row's backend (LDAP, PAM/OS groups) for the user's groups"
    ep.add_argument("--check-backend", action="store_true", help=ask)
    ip = sub.add_parser("import-sql", help="CREATE USER / GRANT PROXY statements -> accounts YAML")
    ip.add_argument("file", help="SQL file ('-' for stdin)")
    ip.add_argument("-o", "--output", help="write the accounts YAML here instead of stdout")
    hp = sub.add_parser("hash-password", help="hash a password read from stdin")
    hp.add_argument("--plugin", choices=sorted(HASHERS), default="caching_sha2_password")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return COMMANDS[args.command](args)
