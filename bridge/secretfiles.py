"""One rule for every file that holds a secret (docs/security.md).

Accepted: owner-only (0600, 0400) or readable by the file's group too (0640, 0440), for the
usual root:mysql-auth-bridge setup. Refused: anything others can read or write, and a group
that may write it (it could swap the secret)."""

from __future__ import annotations

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
