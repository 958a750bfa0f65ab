"""Writing a bridge configuration under a directory and running `python -m bridge serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.hashing import HASHERS, make_sha2, to_text
from sandbox.certs import CertSet
from sandbox.ports import port_open, wait_until
from sandbox.process import stop_process


@dataclass(frozen=True)
class Account:
    """A bridge account row and the upstream account it logs in as."""

    user: str
    password: str
    plugin: str
    host: str = "%"
    upstream_password: str = ""
    auth_string: str | None = None  # verbatim (PAM, auth_socket ...) instead of a hash
    wire_method: str | None = None

    def row(self) -> dict[str, str]:
        auth = self.auth_string
        if auth is None:
            auth = hash_text(self.plugin, self.password)
        row = {"user": self.user, "host": self.host, "plugin": self.plugin,
               "authentication_string": auth}  # fmt: skip
        if self.wire_method:
            row["wire_method"] = self.wire_method
        return row


def hash_text(plugin: str, password: str) -> str:
    """The authentication_string for a password, as `hash-password` prints it (a SHA-2
    hash for rows of the external plugins, which ignore it)."""
    return to_text(HASHERS.get(plugin, make_sha2)(password.encode()))


LOG_SETTLE = 0.05  # seconds


def settled_text(path: Path) -> str:
    """A file the bridge writes from a thread (log lines, audit records), a moment after
    what they report (a client may already have its answer): read once it has stopped
    growing for LOG_SETTLE seconds (waiting at most a second)."""
    size, deadline = -1, time.monotonic() + 1.0
    while time.monotonic() < deadline and path.stat().st_size != size:
        size = path.stat().st_size
        time.sleep(LOG_SETTLE)
    return path.read_text(errors="replace")


@dataclass
class BridgeProcess:
    directory: Path
    port: int
    socket: Path
    certs: CertSet
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def config(self) -> Path:
        return self.directory / "bridge.yaml"

    @property
    def log(self) -> str:
        return settled_text(self.directory / "bridge.log")

    @property
    def log_now(self) -> str:
        """The log as it is this moment, unsettled: for polls that wait until a line is
        there (a line still being written is found at the next poll)."""
        return (self.directory / "bridge.log").read_text(errors="replace")

    def audit_text(self, name: str = "audit.jsonl") -> str:
        """The audit file so far ('' if there is none yet), settled as the log is."""
        path = self.directory / name
        return settled_text(path) if path.exists() else ""

    def listening(self) -> bool:
        return port_open(self.port) and self.socket.exists()

    def wait_log(self, text: str, timeout: float = 30) -> None:
        try:
            wait_until(lambda: text in self.log_now, timeout, f"log line {text!r}")
        except TimeoutError as exc:  # what the bridge did say, for the failure's report
            tail = "\n".join(self.log.splitlines()[-40:])
            raise TimeoutError(f"{exc}; the bridge's log ends:\n{tail}") from None

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def reload(self, timeout: float = 30) -> bool:
        """SIGHUP, then wait for this reload's outcome: True if it was applied."""
        ok, failed = "configuration reloaded", "reload failed"

        def outcomes(log: str) -> tuple[int, int]:
            return log.count(ok), log.count(failed)

        before = outcomes(self.log)  # settled: an earlier outcome's line is in it
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: outcomes(self.log_now) != before, timeout, "reload")
        return outcomes(self.log_now)[0] > before[0]

    def write_accounts(self, rows: list[dict[str, str]]) -> None:
        (self.directory / "accounts.yaml").write_text(yaml.safe_dump({"accounts": rows}))

    def stop(self) -> None:
        stop_process(self.proc, 15)


def write_config(directory: Path, port: int, upstream_port: int, certs: CertSet,
                 accounts: list[Account], upstream_only: dict[str, str] | None = None,
                 proxy_only: frozenset[str] = frozenset(), **sections: Any) -> Path:  # fmt: skip
    """bridge.yaml, accounts.yaml and upstream-credentials.yaml (0600) under `directory`;
    keyword arguments add to the named sections. `proxy_only`: rows that always proxy
    (a PROXY grant), so no upstream account of their own and no credentials entry."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "accounts.yaml").write_text(
        yaml.safe_dump({"accounts": [a.row() for a in accounts]}, sort_keys=False)
    )
    creds = directory / "upstream-credentials.yaml"
    passwords = {a.user: a.upstream_password for a in accounts if a.user not in {"", *proxy_only}}
    passwords.update(upstream_only or {})  # accounts only proxied to, never logged in as
    creds.write_text(yaml.safe_dump({u: {"password": p} for u, p in passwords.items()}))
    os.chmod(creds, 0o600)
    config: dict[str, Any] = {
        "listen": {"tcp": [f"127.0.0.1:{port}"], "unix": str(directory / "bridge.sock")},
        "tls": {"cert": str(certs.cert), "key": str(certs.key)},
        "rsa": {"private_key": "private_key.pem", "public_key": "public_key.pem"},
        # 1000 sessions need about 3,300 open files, within the hard limit of any machine
        # the tests run on, so serve and check do not warn about it (the default 10000
        # needs 21,320; a container may allow 20,000: docs/operations.md#open-files)
        "server": {"connect_timeout": 5, "max_connections": 1000},
        "upstream": {"address": f"127.0.0.1:{upstream_port}", "credentials": creds.name},
        "accounts": ["accounts.yaml"],
        "log": {"level": "info"},
    }
    for name, values in sections.items():
        current = config.get(name)
        config[name] = {**current, **values} if isinstance(current, dict) else values
    path = directory / "bridge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def add_grants(accounts_file: Path, grants: list[dict[str, Any]]) -> None:
    """Append proxy_grants to an accounts file written by write_config."""
    doc = yaml.safe_load(accounts_file.read_text())
    doc["proxy_grants"] = grants
    accounts_file.write_text(yaml.safe_dump(doc, sort_keys=False))


def run_bridge(directory: Path, port: int, certs: CertSet, env: dict[str, str] | None = None,
               extra_args: tuple[str, ...] = ()) -> BridgeProcess:  # fmt: skip
    """Start `python -m bridge serve` on the config in `directory`; wait until it is ready."""
    log = open(directory / "bridge.log", "wb")  # noqa: SIM115 - the child keeps it
    command = [sys.executable, "-m", "bridge", "serve", "-c", str(directory / "bridge.yaml")]
    proc = subprocess.Popen(
        [*command, *extra_args], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    config = yaml.safe_load((directory / "bridge.yaml").read_text())
    sock = Path(config["listen"]["unix"])
    bridge = BridgeProcess(directory, port, sock, certs, proc)
    try:
        wait_until(lambda: proc.poll() is not None or bridge.listening(), 20, "bridge")
    except TimeoutError:
        bridge.stop()
        raise
    if proc.poll() is not None:
        raise RuntimeError(f"bridge exited:\n{bridge.log}")
    return bridge
