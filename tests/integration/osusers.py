"""Real OS users and groups for the PAM and auth_socket tests (CI runs as root)."""

from __future__ import annotations

import contextlib
import encodings.idna  # noqa: F401 - PyMySQL needs it; a child as another user cannot load it
import os
import pwd
import select
import signal
import subprocess
from collections.abc import Callable, Iterator


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


def run_as(user: str, fn: Callable[[], str], timeout: float = 30) -> str:
    """Call `fn` in a forked child that has become the OS user, and return what it returned
    (or its exception as 'Type: message'): a Python client library whose connections the
    kernel's SO_PEERCRED reports as that user's. The child may not be able to read the
    interpreter's own files (a Python under /root): what `fn` imports must be imported first."""
    entry = pwd.getpwnam(user)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        try:
            os.setgroups(os.getgrouplist(user, entry.pw_gid))
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            result = fn()
        except BaseException as exc:  # reported to the parent as text
            result = f"{type(exc).__name__}: {exc}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    try:
        if not select.select([read_end], [], [], timeout)[0]:
            os.kill(pid, signal.SIGKILL)
            return f"TimeoutError: no answer in {timeout} s"
        return os.read(read_end, 65536).decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
