"""One rule for every file that holds a secret (docs/security.md).

Accepted: owner-only (0600, 0400) or readable by the file's group too (0640, 0440), for the
usual root:mysql-auth-bridge setup. Refused: anything others can read or write, and a group
that may write it (it could swap the secret). Warned about: a group that may read it but is
not one the bridge runs in (then its members, not the service, are who the group lets in).
sshd refuses such host keys as well; mysqld checks nothing and its manual asks for 0400."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

REFUSED_BITS = 0o027  # group write/exec, and everything for others


def secret_file_problem(path: Path) -> str | None:
    """Why this secrets file is not acceptable, or None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return f"{path}: holds a secret but does not exist"
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror}"
    if mode & REFUSED_BITS:
        return (
            f"{path}: holds a secret and is mode {mode:04o}; it must be 0600, or 0640 with "
            "the service's group (chmod 640 and chgrp mysql-auth-bridge)"
        )
    return None


def secret_file_warning(path: Path) -> str | None:
    """A group may read this secrets file that this process is not in, or None."""
    try:
        st = path.stat()
    except OSError:
        return None  # secret_file_problem says why
    if not st.st_mode & stat.S_IRGRP or st.st_gid in {os.getegid(), *os.getgroups()}:
        return None
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return (
        f"{path}: holds a secret and is readable by its group {group} (mode "
        f"{stat.S_IMODE(st.st_mode):04o}), which the bridge does not run in: every member of "
        f"{group} can read it; chgrp it to the service's group, or chmod 600"
    )
