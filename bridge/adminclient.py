"""Talking to a running bridge's admin interface (bridge/admin.py) from the command line."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from bridge.admin import address_for
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
    if config.token_file is not None:
        check_private(config.token_file)
        body = {**body, "token": config.token_file.read_text().strip()}
    address = address_for(config, worker)
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    if not isinstance(address, str) and ":" in address[0]:
        family = socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(address)
            sock.sendall(json.dumps(body).encode() + b"\n")
            answer = sock.makefile("rb").readline()
    except OSError as exc:
        raise AdminUnavailable(
            f"no bridge answers on {config.listen}: {exc.strerror or exc}"
        ) from None
    if not answer:
        raise AdminUnavailable(f"{config.listen}: the bridge closed the connection")
    reply: dict[str, Any] = json.loads(answer)
    return reply
