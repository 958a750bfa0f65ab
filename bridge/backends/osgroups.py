"""The system's view of a user: its name for a uid, and the names of its groups."""

from __future__ import annotations

import grp
import os
import pwd


def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def groups_of(user: str) -> tuple[str, ...]:
    """Every group the user is in (primary first), as getgrouplist(3) lists them; () for a
    user the system does not know (PAM modules can authenticate users without a passwd entry)."""
    try:
        primary = pwd.getpwnam(user).pw_gid
    except KeyError:
        return ()
    names = []
    for gid in os.getgrouplist(user, primary):
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return tuple(dict.fromkeys(names))
