"""Real OS users and groups for the PAM and auth_socket tests (CI runs as root)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator


def run(*cmd: str, stdin: str | None = None) -> None:
    subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True)


@contextlib.contextmanager
def os_users(
    users: dict[str, list[str]], passwords: dict[str, str] | None = None
) -> Iterator[None]:
    """Create groups and users (user -> its supplementary groups); remove them afterwards."""
    groups = sorted({g for gs in users.values() for g in gs})
    for group in groups:
        subprocess.run(["groupdel", group], capture_output=True)
        run("groupadd", group)
    for user, member_of in users.items():
        subprocess.run(["userdel", "-r", user], capture_output=True)
        run(
            "useradd",
            "-M",
            "-s",
            "/bin/false",
            *(["-G", ",".join(member_of)] if member_of else []),
            user,
        )
    for user, password in (passwords or {}).items():
        run("chpasswd", stdin=f"{user}:{password}\n")
    try:
        yield
    finally:
        for user in users:
            subprocess.run(["userdel", user], capture_output=True)
        for group in groups:
            subprocess.run(["groupdel", group], capture_output=True)
