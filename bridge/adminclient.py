"""Talking to a running bridge's admin interface (bridge/admin.py) from the command line."""

from __future__ import annotations

import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.admin import address_for, describe_address
from bridge.config import AdminConfig, ConfigError, check_private

NOT_ASKED = (
    "the running bridge was not asked (if one runs, it goes on with the configuration it "
    "has): its admin address is read from {path}, which cannot be loaded (above). Fix the "
    "file (`mysql-auth-bridge check -c {path}` lists every error), or give the address "
    "with --admin unix:/path/to/admin.sock (or --admin host:port --token-file FILE)."
)


class AdminUnavailable(Exception):
    """No bridge answers on the admin address (not running, or no admin section)."""


def admin_config(config_path: Path, listen: str | None, token_file: str | None) -> AdminConfig:
    """The admin section of bridge.yaml, or the address given on the command line."""
    if listen is not None:
        token = Path(token_file) if token_file else None
        return AdminConfig(listen=listen, token_file=token)
    from bridge.config import load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:  # not a refused request: say the bridge never saw one
        raise ConfigError(f"{exc}\n{NOT_ASKED.format(path=config_path)}") from None
    if config.admin is None:
        raise ConfigError(f"{config_path}: has no 'admin' section: the admin interface is off")
    return config.admin


def request(config: AdminConfig, worker: int | None, body: dict[str, Any]) -> dict[str, Any]:
    """One request to one address: the bridge's, or worker `worker`'s."""
    if config.token_file is not None:
        check_private(config.token_file)
        body = {**body, "token": config.token_file.read_text().strip()}
    address = address_for(config, worker)
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    if not isinstance(address, str) and ":" in address[0]:
        family = socket.AF_INET6
    where = describe_address(address)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(address)
            sock.sendall(json.dumps(body).encode() + b"\n")
            answer = sock.makefile("rb").readline()
    except OSError as exc:
        raise AdminUnavailable(f"no bridge answers on {where}: {exc.strerror or exc}") from None
    if not answer:
        raise AdminUnavailable(f"{where}: the bridge closed the connection")
    reply: dict[str, Any] = json.loads(answer)
    return reply


@dataclass(frozen=True)
class Answer:
    """One process's reply (worker None: a bridge without --workers), or why it gave none."""

    worker: int | None
    reply: dict[str, Any] | None
    unavailable: str | None = None
    reached: bool = True  # False: nothing answered on its address


def ask(config: AdminConfig, worker: int | None, body: dict[str, Any]) -> list[Answer]:
    """The one process asked for (--worker), or the bridge; under --workers, every worker.

    How many workers there are is not taken from one reply alone: every reply must name
    the worker asked and the same count, and with a Unix address the sockets present
    (admin.sock.N) are asked too, so a worker that misstates the count (another or a stale
    bridge on these addresses) is named, never silently left out or believed."""
    if worker is not None:
        try:
            return [_checked(worker, request(config, worker, body), None)]
        except AdminUnavailable as exc:
            raise AdminUnavailable(f"{exc}{_which_workers(config, worker)}") from None
    first = _first_worker(config)
    reply = request(config, first, body)
    claimed = reply.get("workers")
    if first is None and (not isinstance(claimed, int) or claimed < 2):
        return [Answer(reply.get("worker"), reply)]
    claimed = claimed if isinstance(claimed, int) else None
    found = _socket_indexes(config)
    others = sorted((set(range(claimed or 1)) | found) - {first or 0})
    with ThreadPoolExecutor(max(1, len(others))) as pool:  # a reload takes a while in each
        rest = list(pool.map(lambda i: _answer(config, i, body, claimed), others))
    # a socket file beyond the count that nobody answers on: left by a bridge that is gone
    stale = {a.worker for a in rest if not a.reached and (a.worker or 0) >= (claimed or 1)}
    answers = [_checked(first or 0, reply, claimed), *(a for a in rest if a.worker not in stale)]
    return sorted(answers, key=lambda a: a.worker or 0)


def _answer(config: AdminConfig, worker: int, body: dict[str, Any], claimed: int | None) -> Answer:
    try:
        return _checked(worker, request(config, worker, body), claimed)
    except AdminUnavailable as exc:
        return Answer(worker, None, str(exc), reached=False)


def _checked(worker: int, reply: dict[str, Any], claimed: int | None) -> Answer:
    """The reply of the worker asked, if it says it is that worker, of the count the first
    reply gave (`claimed`; None: not known, only the index is checked)."""
    said, count = reply.get("worker"), reply.get("workers")
    if said == worker and (claimed is None or count == claimed):
        return Answer(worker, reply)
    first = f"; the first reply said {claimed} workers" if claimed is not None else ""
    who = f"worker {said} of {count}" if said is not None else "a bridge without --workers"
    return Answer(worker, None, f"answered as {who}{first}: the replies do not agree (a "
                  "bridge with another --workers, or a stale one, on these addresses?); its "
                  "answer is not used, restart the bridge")  # fmt: skip


def _which_workers(config: AdminConfig, asked: int) -> str:
    """For --worker I that nobody answers on: the workers whose sockets there are, when
    I is not one of them (a Unix address; a TCP one cannot tell)."""
    found = _socket_indexes(config)
    if not found or asked in found:
        return ""
    listed = ", ".join(str(i) for i in sorted(found))
    return f" (--worker {asked}: the admin sockets there are those of worker {listed})"


def _socket_indexes(config: AdminConfig) -> set[int]:
    """The N of every admin.sock.N beside a Unix admin address (none for TCP: a port + N
    may be anyone's, and the token must not go to it)."""
    address = address_for(config, None)
    if not isinstance(address, str):
        return set()
    path = Path(address)
    return {int(p.suffix[1:]) for p in path.parent.glob(f"{path.name}.*")
            if p.suffix[1:].isdigit() and p.is_socket()}  # fmt: skip


def _first_worker(config: AdminConfig) -> int | None:
    """Where to start: the configured address; under --workers a Unix address has no file
    of its own (admin.sock.0, .1 ... instead): then worker 0, which says how many there
    are. A TCP address's port is worker 0's already."""
    address = address_for(config, None)
    if not isinstance(address, str) or os.path.exists(address):
        return None
    if os.path.exists(f"{address}.0"):
        return 0
    found = sorted(int(p.suffix[1:]) for p in Path(address).parent.glob(f"{Path(address).name}.*")
                   if p.suffix[1:].isdigit())  # fmt: skip
    if found:
        raise AdminUnavailable(
            f"no bridge answers on unix:{address}, and worker 0's {address}.0 is missing "
            f"(sockets of workers {', '.join(map(str, found))} are there): ask one with "
            f"--worker N (N from 0 to the number of workers - 1)"
        )
    return None
