"""The mysql-auth-bridge command line: one function per command, registered with @command.

Commands that work on the files: serve (run the service), check (validate every file),
explain (which row, method and account a login gets), hash-password (a hash for
accounts.yaml), import-sql (CREATE USER / GRANT PROXY -> accounts YAML). Commands that ask a
running bridge over its admin socket: sessions, kill, reload, status, unlock. EXAMPLES holds
what `--help` says of each."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import hmac
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge import __version__
from bridge.config import ConfigError
from bridge.hashing import HASHERS, to_text
from bridge.logfmt import name_worker, one_line, set_process_title, setup_logging

if TYPE_CHECKING:
    from bridge.adminclient import Answer
    from bridge.mapping.hosts import ClientHost
    from bridge.runtime import Runtime

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}
DEFAULT_CONFIG = "/etc/mysql-auth-bridge/bridge.yaml"
DESCRIPTION = f"""mysql-auth-bridge: an external authentication gateway for MySQL and MariaDB.

Every command that reads the configuration takes -c PATH (default: $MYSQL_AUTH_BRIDGE_CONFIG,
else {DEFAULT_CONFIG})."""
# What `--help` lists: each command, what it does, and an example.
EXAMPLES: dict[str, tuple[str, str]] = {
    "serve": ("run the service", "serve -c /etc/mysql-auth-bridge/bridge.yaml --log-format json"),
    "check": ("validate every file and what serve needs", "check --online"),
    "explain": ("which row, method and account a login gets", "explain alice --host 10.1.2.3"),
    "hash-password": (
        "hash a password for accounts.yaml",
        "hash-password --plugin caching_sha2_password",
    ),
    "import-sql": (
        "CREATE USER / GRANT PROXY -> accounts YAML",
        "import-sql users.sql -o accounts.yaml",
    ),
    "sessions": ("list the sessions of a running bridge", "sessions"),
    "kill": ("end a session of a running bridge", "kill 42"),
    "reload": ("make a running bridge re-read its files", "reload"),
    "status": ("a running bridge's health, files and counts", "status --json"),
    "unlock": ("forget a locked account's failed logins", "unlock alice@10.1.2.3"),
}


def command(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[..., int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
        COMMANDS[name] = fn
        return fn

    return register


def _startable(args: argparse.Namespace) -> Runtime:
    """The runtime, once the files and the environment are fit to serve (ConfigError with
    every problem found otherwise), with logging set up. Ports are tried by binding them."""
    import logging

    from bridge.config import load_config
    from bridge.preflight import preflight
    from bridge.runtime import build_runtime

    config_path = Path(args.config)
    config = load_config(config_path)
    setup_logging(args.log_level or config.log.level, args.log_format or config.log.format)
    problems, warnings = preflight(config_path, config, frozenset({"ports"}))
    if problems:
        raise ConfigError("\n".join(problems))
    for warning in warnings:
        logging.getLogger("bridge").warning("%s", warning)
    runtime = build_runtime(config_path)
    _open_files(config_path, runtime)
    return runtime


def _open_files(config_path: Path, runtime: Runtime) -> None:
    """Raise the open-files limit for max_connections (before any fork: the workers inherit
    it); warn, as mysqld does, when the hard limit does not allow it."""
    from bridge.fdlimit import ensure_open_files

    ensure_open_files(config_path, runtime.config)


@command("serve")
def serve(args: argparse.Namespace) -> int:
    from bridge.logqueue import LogQueue
    from bridge.server import BridgeServer

    runtime = _startable(args)
    set_process_title(f"serve -c {args.config}")

    shared = None
    if args.workers > 1:  # KILL finds a session in any worker through shared memory
        from bridge.registry import SharedMemory

        shared = SharedMemory(args.workers, runtime.config.server.max_connections)

    def serve_one(
        worker: int | None = None, unix: socket.socket | None = None, restarted: bool = False
    ) -> None:
        async def main() -> None:
            # What start-up allocated lives for the whole run: keep it out of every
            # collection, and collect less often (sessions make little cyclic garbage).
            gc.freeze()
            gc.set_threshold(10_000, 20, 20)
            await BridgeServer(runtime, worker, unix, shared, args.workers).serve(restarted)

        if worker is not None:
            set_process_title(f"serve -c {args.config} (worker {worker})")
            name_worker(worker)  # its log lines and audit records say 'worker=i'
        logs = LogQueue.start()  # here, in the process that serves: threads do not fork
        try:
            _run_logged(lambda: _event_loop_runner()(main()))
        finally:
            logs.stop()  # every queued line written before the process ends

    if args.workers > 1:
        from bridge.workers import run_workers

        return run_workers(runtime, args.workers, serve_one, shared)
    serve_one()
    return 0


def _run_logged(run: Callable[[], object]) -> None:
    """`run` (the event loop of serve); SystemExit(1) when it fails. The environment changed
    since the checks (a config file, a port): said in one line. Anything else is a bug:
    logged as CRITICAL with its traceback, in the log format and naming the worker under
    --workers, so that a worker's end can be told from its siblings' in one journal."""
    try:
        run()
    except (ConfigError, OSError) as exc:
        print(f"mysql-auth-bridge: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception:
        logging.getLogger("bridge").critical("serve ended by an unexpected error", exc_info=True)
        raise SystemExit(1) from None


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
    from bridge.checks import inspect_all

    skip = frozenset({"ports"}) if args.skip_ports else frozenset()
    runtime, findings = inspect_all(Path(args.config), skip, args.workers)
    if runtime is not None and args.online:
        from bridge.online import check_online

        setup_logging(args.log_level or "warning", args.log_format or "text")
        online = asyncio.run(check_online(runtime))
        findings.errors += online.errors
        findings.warnings += online.warnings
        for line in online.notes:
            print(f"ok: {line}")
    for line in findings.errors:
        print(f"error: {line}", file=sys.stderr)
    for line in findings.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if findings.errors or runtime is None:
        print(f"{args.config}: {len(findings.errors)} error(s)", file=sys.stderr)
        return 1
    print(f"{args.config}: OK ({len(runtime.accounts.rows)} account rows)")
    return 0


@command("explain")
def explain_command(args: argparse.Namespace) -> int:
    from bridge.explain import explain
    from bridge.mapping.hosts import client_host
    from bridge.wire import WIRE_METHODS

    if args.default_auth is not None and args.default_auth not in WIRE_METHODS:
        known = ", ".join(WIRE_METHODS)
        print(f"--default-auth takes a client plugin ({known})", file=sys.stderr)
        return 1
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
    if args.check_backend or args.token_file:
        lookup = backend_groups if args.check_backend else token_groups
        asked = asyncio.run(lookup(runtime, args.user, client, args.token_file))
        if asked is None:
            return 1
        groups = asked
    result = explain(runtime, args.user, client, groups, args.transport,
                     client_plugin=args.default_auth)  # fmt: skip
    print("\n".join(result.lines))
    return 0 if result.granted else 1


def _write_hashes(path: Path, text: str) -> None:
    """The accounts file holds password hashes: a new one is made 0640 (the service's group
    reads it), never readable by others whatever the umask; an existing one keeps its mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        mode = os.fstat(out.fileno()).st_mode & 0o777
        if mode & 0o007:
            print(f"warning: {path} holds password hashes and every user may read it (mode "
                  f"{mode:04o}): chmod 640 {path}", file=sys.stderr)  # fmt: skip
        out.write(text)


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
    except UnicodeDecodeError as exc:  # raw binary hashes: docs/migration.md says how to avoid
        print(f"{args.file}: byte {exc.start} is not UTF-8 text: on MySQL 8, dump with "
              "print_identified_with_as_hex=ON (docs/migration.md)", file=sys.stderr)  # fmt: skip
        return 1
    text = to_yaml(result)
    if args.output:
        _write_hashes(Path(args.output), text)
    else:
        sys.stdout.write(text)
    for line in result.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    for line in result.not_translated:
        print(f"NOT TRANSLATED: {line}", file=sys.stderr)
    return 1 if result.not_translated else 0


async def backend_groups(
    runtime: Runtime, user: str, client: ClientHost, _token_file: str | None = None
) -> tuple[str, ...] | None:
    """Ask the matched row's backend for the user's groups (no password needed)."""
    from bridge.errors import BackendUnavailable, Denied
    from bridge.plugins import PLUGINS

    row = runtime.accounts.match(user, client)
    if row is None:
        return ()
    backend = runtime.backends[PLUGINS[row.plugin].backend]
    lookup = getattr(backend, "lookup", None)
    if lookup is None or not getattr(backend, "keeps_groups", True):
        why = " (groups_from_ldap is off)" if lookup is not None else ""
        print(f"backend {backend.name}: keeps no groups to look up{why}", file=sys.stderr)
        return ()
    try:
        groups: tuple[str, ...] = await lookup(user, row)
    except (Denied, BackendUnavailable) as exc:
        print(f"backend {backend.name}: {exc}", file=sys.stderr)
        return None
    print(f"backend {backend.name} reports the groups: {', '.join(groups) or '(none)'}")
    return groups


async def token_groups(
    runtime: Runtime, user: str, client: ClientHost, token_file: str | None
) -> tuple[str, ...] | None:
    """Verify an ID token for the matched OpenID Connect row as a login would (keys from
    the provider), say which claims matched, and return its groups. Never prints the token."""
    from bridge.errors import BackendUnavailable, Denied
    from bridge.plugins import PLUGINS

    assert token_file is not None
    row = runtime.accounts.match(user, client)
    backend = runtime.backends.get(PLUGINS[row.plugin].backend) if row is not None else None
    examine = getattr(backend, "examine", None)
    if row is None or examine is None:
        print(f"--token-file: the row for {user!r} is not an OpenID Connect row", file=sys.stderr)
        return None
    try:
        token = Path(token_file).read_bytes().strip()
        found = await examine(token, user, row)
    except OSError as exc:
        print(f"--token-file: {exc.strerror}: {token_file}", file=sys.stderr)
        return None
    except (Denied, BackendUnavailable) as exc:
        print(f"token refused: {exc}", file=sys.stderr)
        return None
    print("\n".join(found.lines()))
    groups: tuple[str, ...] = found.groups
    return groups


def _read_password() -> bytes | None:
    """From the terminal without echo, asked twice; else all of stdin (one line ending
    stripped). None if the two entries differ, or stdin holds more than one line."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        again = getpass.getpass("Password again: ")
        if not hmac.compare_digest(first.encode(), again.encode()):
            print("the two passwords differ; nothing hashed", file=sys.stderr)
            return None
        return first.encode()
    raw = sys.stdin.buffer.read()
    password = raw[:-1] if raw.endswith(b"\n") else raw
    password = password[:-1] if password.endswith(b"\r") else password
    if b"\n" in password or b"\r" in password:  # `printf 'pw\npw\n' |`, answering the prompts
        print("the password read from standard input holds a line break (two lines?): no "
              "client prompt can type it, so nothing hashed; pipe the password alone, once "
              "(printf '%s' \"$PW\" | mysql-auth-bridge hash-password)",
              file=sys.stderr)  # fmt: skip
        return None
    return password


@command("hash-password")
def hash_password(args: argparse.Namespace) -> int:
    password = _read_password()
    if password is None:
        return 1
    if not password:  # Enter twice, or `printf '%s' "$PW" |` with PW unset
        print("the password is empty: nothing hashed (an unset variable in a script? its "
              "hash would be an empty authentication_string, which for a password plugin is "
              "an account with no password: write '' by hand if that is what you mean)",
              file=sys.stderr)  # fmt: skip
        return 1
    print(to_text(HASHERS[args.plugin](password)))
    return 0


# --- the admin interface's commands ----------------------------------------------------------


def _asked(args: argparse.Namespace, body: dict[str, Any]) -> list[Answer]:
    """Send one request: to the bridge, or under --workers to every worker (or the one
    --worker names). A bridge that does not answer is a clear message and exit code 1, as
    in main()."""
    from bridge.adminclient import AdminUnavailable, admin_config, ask

    config = admin_config(Path(args.config), args.admin, args.token_file)
    try:
        return ask(config, args.worker, body)
    except AdminUnavailable as exc:
        raise ConfigError(str(exc)) from None


def _workers(answers: list[Answer]) -> str:
    return ", ".join(str(a.worker) for a in answers)


def _results(answers: list[Answer], quiet: bool = False) -> tuple[list[tuple[Answer, Any]], bool]:
    """The results of the processes that did what was asked, and whether all did. What the
    others said is printed (unless `quiet`), one line for each text ('worker 0, 1: ...'
    under --workers)."""
    done = [(a, a.reply["result"]) for a in answers if a.reply is not None and a.reply.get("ok")]
    failed: dict[str, list[Answer]] = {}
    for a in answers:
        if a.reply is None or not a.reply.get("ok"):
            text = a.unavailable if a.reply is None else str(a.reply.get("error"))
            failed.setdefault(text or "no answer", []).append(a)
    for text, who in [] if quiet else failed.items():
        where = f"worker {_workers(who)}: " if who[0].worker is not None else ""
        print(f"mysql-auth-bridge: {where}{text}", file=sys.stderr)
    return done, not failed


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


SESSION_COLUMNS = ("id", "user", "account", "client", "method", "backend", "since",
                   "bytes_from_client", "bytes_to_client")  # fmt: skip


def _cell(row: dict[str, Any], key: str) -> str:
    """One cell, on one line and without control characters: a session still in its
    handshake shows the user name its client sent, whatever it holds."""
    value = row.get(key)
    if key == "since" and isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    return "-" if value is None else one_line(str(value))


@command("sessions")
def sessions_command(args: argparse.Namespace) -> int:
    done, all_ok = _results(_asked(args, {"command": "sessions"}))
    if not done:
        return 1
    workers = done[0][0].worker is not None
    rows = sorted(({**row, "worker": a.worker} if workers else row
                   for a, result in done for row in result), key=lambda r: r["id"])  # fmt: skip
    if args.json:
        _print_json(rows)
        return 0 if all_ok else 1
    columns = ("worker", *SESSION_COLUMNS) if workers else SESSION_COLUMNS
    table = [columns, *([_cell(r, k) for k in columns] for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return 0 if all_ok else 1


@command("kill")
def kill_command(args: argparse.Namespace) -> int:
    """Under --workers every worker is asked; the one that holds the session ends it."""
    answers = _asked(args, {"command": "kill", "id": args.id})
    done, _ = _results(answers, quiet=True)
    if not done:
        _results(answers)  # say why: no such session, or a worker that did not answer
        return 1
    print(f"session {args.id} ended")
    return 0


@command("reload")
def reload_command(args: argparse.Namespace) -> int:
    done, all_ok = _results(_asked(args, {"command": "reload"}))
    for path in dict.fromkeys(result["reloaded"] for _, result in done):
        who = [a for a, result in done if result["reloaded"] == path]
        print(f"reloaded {path}" + (f" (worker {_workers(who)})" if who[0].worker is not None
                                    else ""))  # fmt: skip
    for warning in dict.fromkeys(r["warning"] for _, r in done if r.get("warning")):
        print(f"warning: {warning}", file=sys.stderr)
    return 0 if all_ok else 1


@command("status")
def status_command(args: argparse.Namespace) -> int:
    done, all_ok = _results(_asked(args, {"command": "status"}))
    reports = [report for _, report in done]
    if args.json and reports:
        every = args.worker is None and reports[0]["worker"] is not None  # --workers: a list
        _print_json(reports if every else reports[0])
    elif reports:
        for report in reports:
            _print_status(report)
    if not all_ok or not reports:
        return 1
    return 0 if all(report["status"] == "ok" for report in reports) else 2


def _print_status(report: dict[str, Any]) -> None:
    worker = "" if report["worker"] is None else f"worker {report['worker']}, "
    print(f"status: {report['status']} ({worker}pid {report['pid']}, up {report['uptime']} s)")
    upstream = report["upstream"]
    print(f"upstream {upstream['address']}: {upstream['state']}")
    for name, state in sorted(report["backends"].items()):
        print(f"backend {name}: {state}")
    if "state" in report:  # state.backend redis
        print(f"state: {report['state']}")
    print(f"sessions: {report['sessions']} open, {report['sessions_total']} since start")
    print(f"account rows: {report['account_rows']}")
    for path, digest in report["config"].items():
        print(f"file {path}: {digest}")
    if report["last_reload_error"]:
        print(f"last reload failed:\n{report['last_reload_error']}")


@command("unlock")
def unlock_command(args: argparse.Namespace) -> int:
    """Under --workers every worker forgets its own counts (memory state keeps them per
    worker; with Redis the first one clears the shared records)."""
    user, _, host = args.account.rpartition("@") if "@" in args.account else (args.account, "", "")
    done, all_ok = _results(_asked(args, {"command": "unlock", "user": user, "host": host or None}))
    if done:
        records = sum(result["records"] for _, result in done)
        who = f" (worker {_workers([a for a, _ in done])})" if done[0][0].worker is not None else ""
        print(f"unlocked {args.account}{who}: {records} failure record(s) forgotten")
        if not records and host:
            print(f"mysql-auth-bridge: no failed logins of {user!r} from {host} are recorded; "
                  f"`mysql-auth-bridge unlock {user}` forgets them from every address",
                  file=sys.stderr)  # fmt: skip
    return 0 if all_ok and done else 1


# --- the parser ------------------------------------------------------------------------------


def _common(config: bool = True, logs: bool = False) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    if config:
        default = os.environ.get("MYSQL_AUTH_BRIDGE_CONFIG") or DEFAULT_CONFIG
        where = f"path to bridge.yaml (default {default})"
        common.add_argument("-c", "--config", default=default, help=where)
    if logs:
        levels = ("debug", "info", "warning", "error")
        common.add_argument("--log-level", choices=levels, help="overrides log.level")
        common.add_argument("--log-format", choices=("text", "json"), help="overrides log.format")
    return common


def _admin_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False, parents=[_common()])
    options.add_argument("--admin", help="the admin address (default: admin.listen from -c)")
    options.add_argument("--token-file", help="the token for a TCP admin address")
    options.add_argument("--worker", type=int, help="under --workers: which worker to ask")
    return options


def _epilog() -> str:
    lines = ["commands, with an example each:"]
    for name, (what, example) in EXAMPLES.items():
        lines.append(f"  {name:<14} {what}\n  {'':<14} mysql-auth-bridge {example}")
    return "\n".join(lines)


def _sub(sub: Any, name: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
    what, example = EXAMPLES[name]
    described = f"{what}. Example: mysql-auth-bridge {example}"
    made: argparse.ArgumentParser = sub.add_parser(
        name, help=what, description=described, parents=list(parents)
    )
    return made


def _admin_parsers(sub: Any) -> None:
    options = _admin_options()
    for name in ("sessions", "status"):
        _sub(sub, name, options).add_argument("--json", action="store_true", help="print JSON")
    _sub(sub, "kill", options).add_argument("id", type=int, help="the session id (see sessions)")
    _sub(sub, "reload", options)
    where = (
        "USER or USER@HOST (HOST: the client's IP address, or localhost: the socket and "
        "TCP from 127.0.0.1 or ::1, as ERROR 3955 names them)"
    )
    _sub(sub, "unlock", options).add_argument("account", help=where)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mysql-auth-bridge", description=DESCRIPTION, epilog=_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--version", action="version", version=f"mysql-auth-bridge {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sp = _sub(sub, "serve", _common(logs=True))
    many = "worker processes on the same addresses (SO_REUSEPORT)"
    sp.add_argument("--workers", type=int, default=1, help=many)
    cp = _sub(sub, "check", _common(logs=True))
    online = "also log in upstream as each account, bind to LDAP, get a Kerberos ticket"
    cp.add_argument("--online", action="store_true", help=online)
    skip = "do not try to bind the TCP ports (when systemd's socket unit holds them)"
    cp.add_argument("--skip-ports", action="store_true", help=skip)
    cp.add_argument("--workers", type=int, default=1, help="as serve will run (for its warnings)")
    ep = _sub(sub, "explain", _common())
    ep.add_argument("user", help="the user name the client sends")
    ep.add_argument("--host", default="localhost", help="the client's IP address or localhost")
    ep.add_argument("--groups", help="comma-separated groups the backend would report")
    how = "how the client connects: plain TCP, TCP with TLS (the default), the Unix socket"
    ep.add_argument("--transport", choices=("tcp", "tls", "socket"), default="tls", help=how)
    opens = (
        "the client plugin the client opens with, as the mariadb CLI's --default-auth "
        "(default: server.default_auth_plugin, what the greeting proposes)"
    )
    ep.add_argument("--default-auth", metavar="PLUGIN", help=opens)
    ask = "ask the row's backend (LDAP, PAM/OS groups) for the user's groups"
    ep.add_argument("--check-backend", action="store_true", help=ask)
    verify = "verify this ID token (OpenID Connect rows) and take its groups"
    ep.add_argument("--token-file", metavar="PATH", help=verify)
    ip = _sub(sub, "import-sql")
    ip.add_argument("file", help="SQL file ('-' for stdin)")
    ip.add_argument("-o", "--output", help="write the accounts YAML here instead of stdout")
    hp = _sub(sub, "hash-password")
    hp.add_argument("--plugin", choices=sorted(HASHERS), default="caching_sha2_password")
    _admin_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Configuration and environment problems end in a clear message and exit code 1, never
    in a traceback."""
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"mysql-auth-bridge: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `status | head`: the reader left; quiet, as `ls | head` is
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nor at exit's flush
        return 128 + signal.SIGPIPE
