"""Command line: serve, check, hash-password."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from bridge import __version__
from bridge.config import ConfigError
from bridge.hashing import StoredHash, make_native, make_sha2, to_text

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

    async def main() -> None:
        # What start-up allocated lives for the whole run: keep it out of every collection,
        # and collect less often (sessions make little cyclic garbage; measured on logins).
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        await BridgeServer(runtime).serve()

    runner = _event_loop_runner()
    runner(main())
    return 0


def _event_loop_runner() -> Callable[..., object]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


@command("check")
def check(args: argparse.Namespace) -> int:
    from bridge.runtime import build_runtime

    try:
        runtime = build_runtime(Path(args.config))
    except ConfigError as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    problems = [
        f"{row.source}: '{row.user}'@'{row.host}' has no entry in "
        f"{runtime.config.upstream.credentials}, so the bridge cannot log in upstream for it"
        for row in runtime.accounts.rows
        if row.user and row.user not in runtime.credentials
    ]
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"{args.config}: OK ({len(runtime.accounts.rows)} account rows)")
    return 0


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
    hp = sub.add_parser("hash-password", help="hash a password read from stdin")
    hp.add_argument("--plugin", choices=sorted(HASHERS), default="caching_sha2_password")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return COMMANDS[args.command](args)
